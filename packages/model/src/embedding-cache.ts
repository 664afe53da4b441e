import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeBases, encodeBases, type BasesCache, type ProjectionBases } from './features.js';

/** Stores embeddings keyed by image content hash + backbone id + view, so retrains only embed new photos. */
export interface EmbeddingCache {
  get(key: string): Promise<Float32Array | undefined>;
  set(key: string, value: Float32Array): Promise<void>;
}

export function embeddingCacheKey(
  imageSha256: string,
  backboneId: string,
  variant: string,
): string {
  return `${backboneId}|${variant}|${imageSha256}`;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class MemoryEmbeddingCache implements EmbeddingCache {
  private readonly entries = new Map<string, Float32Array>();
  async get(key: string): Promise<Float32Array | undefined> {
    return this.entries.get(key);
  }
  async set(key: string, value: Float32Array): Promise<void> {
    this.entries.set(key, value);
  }
}

/** One little-endian float32 file per key, under dir/<backbone>/<hash prefix>/. */
export class FileEmbeddingCache implements EmbeddingCache {
  constructor(private readonly dir: string) {}

  private fileOf(key: string): string {
    const digest = createHash('sha256').update(key).digest('hex');
    const backbone = key.split('|')[0]?.replace(/[^a-zA-Z0-9.+-]/g, '_') ?? 'unknown';
    return path.join(this.dir, backbone, digest.slice(0, 2), `${digest}.f32`);
  }

  async get(key: string): Promise<Float32Array | undefined> {
    try {
      const bytes = await readFile(this.fileOf(key));
      return new Float32Array(
        bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      );
    } catch {
      return undefined;
    }
  }

  async set(key: string, value: Float32Array): Promise<void> {
    const file = this.fileOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    await rename(tmp, file);
  }
}

/** Fitted projection bases, one file per sample key, under dir/bases/. */
export class FileBasesCache implements BasesCache {
  constructor(private readonly dir: string) {}

  private fileOf(key: string): string {
    return path.join(this.dir, 'bases', `${key.replace(/[^a-f0-9]/g, '')}.bin`);
  }

  async get(key: string): Promise<ProjectionBases | undefined> {
    try {
      return decodeBases(await readFile(this.fileOf(key)));
    } catch {
      return undefined;
    }
  }

  async set(key: string, bases: ProjectionBases): Promise<void> {
    const file = this.fileOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, encodeBases(bases));
    await rename(tmp, file);
  }
}
