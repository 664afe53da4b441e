import {
  decodeBases,
  decodeMaps,
  encodeBases,
  encodeMaps,
  type BasesCache,
  type EmbeddingCache,
  type FitExchange,
  type ProjectionBases,
} from '@wildlens/model';
import { STORAGE_PREFIX, mapLimit } from '@wildlens/shared';
import type { TrainerBucket } from './resilience.js';

/** Storage prefix of cached embeddings: embeddings/{backboneId}/{imageSha256}.bin */
export const EMBEDDINGS_PREFIX = STORAGE_PREFIX.embeddings;

type Pack = Map<string, Float32Array>;

/** How the run keeps the cache from outliving an erasure (issue 20, finding 5). */
export interface EmbeddingCacheGuard {
  /**
   * Asked right after an image's object is written: whether its photo is still in the
   * training set. When not, the object just written is deleted and nothing more is cached for
   * that image: an erasure that ran while the photo was being embedded deleted the cached
   * embeddings before this write, and must not find them back.
   */
  stillWanted(imageSha256: string): Promise<boolean>;
  /** Test hook: awaited before an image's object is written. */
  beforeWrite?(imageSha256: string): Promise<void>;
}

/**
 * Embedding cache in Cloud Storage, one object per (backbone, image) holding every view
 * variant, so a retrain downloads one small object per known image instead of recomputing it,
 * and sharded tasks hand their embeddings to the coordinator. Binary layout: uint32 LE length of
 * a JSON header { rows: [{ variant, dim }] } (older objects: { dim, variants }, one size for
 * all), the header, then float32 LE rows in header order.
 */
export class StorageEmbeddingCache implements EmbeddingCache {
  private readonly packs = new Map<string, Promise<Pack>>();
  private readonly dirty = new Set<string>();
  /** Images erased during the run, by hash: never cached again. */
  private readonly discarded = new Set<string>();
  readonly stats = { hits: 0, misses: 0, downloads: 0, uploads: 0, discarded: 0 };

  /**
   * `variantsPerImage`: an image's object is written as soon as it has all its variants.
   * `currentPrefix`: variants of other featurizers (an older recipe or other bases) are dropped
   * from an object when it is rewritten, so objects do not grow with every recipe change.
   */
  constructor(
    private readonly bucket: TrainerBucket,
    private readonly variantsPerImage: number,
    private readonly currentPrefix = '',
    private readonly guard?: EmbeddingCacheGuard,
  ) {}

  static objectName(backboneId: string, imageSha256: string): string {
    return `${EMBEDDINGS_PREFIX}${backboneId}/${imageSha256}.bin`;
  }

  /** Key format of @wildlens/model: `${backbone}|${variant}|${sha256}`. */
  private static parse(key: string): { packId: string; variant: string; sha: string } {
    const [backbone, variant, sha] = key.split('|');
    if (!backbone || !variant || !sha) throw new Error(`unexpected embedding cache key ${key}`);
    return { packId: `${backbone}/${sha}`, variant, sha };
  }

  private pack(packId: string): Promise<Pack> {
    let pack = this.packs.get(packId);
    if (!pack) {
      pack = this.download(packId);
      this.packs.set(packId, pack);
    }
    return pack;
  }

  private async download(packId: string): Promise<Pack> {
    const file = this.bucket.file(`${EMBEDDINGS_PREFIX}${packId}.bin`);
    try {
      const [bytes] = await file.download();
      this.stats.downloads++;
      return decodePack(bytes);
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return new Map();
      throw err;
    }
  }

  /** Downloads the objects of these images ahead of use, a few at a time. */
  async prefetch(backboneId: string, imageHashes: string[], concurrency = 12): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < imageHashes.length) {
        const sha = imageHashes[next++] as string;
        await this.pack(`${backboneId}/${sha}`);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  async get(key: string): Promise<Float32Array | undefined> {
    const { packId, variant, sha } = StorageEmbeddingCache.parse(key);
    const value = this.discarded.has(sha) ? undefined : (await this.pack(packId)).get(variant);
    if (value) this.stats.hits++;
    else this.stats.misses++;
    return value;
  }

  async set(key: string, value: Float32Array): Promise<void> {
    const { packId, variant, sha } = StorageEmbeddingCache.parse(key);
    if (this.discarded.has(sha)) return;
    const pack = await this.pack(packId);
    pack.set(variant, value);
    if (this.currentPrefix)
      for (const old of [...pack.keys()]) if (!old.startsWith(this.currentPrefix)) pack.delete(old);
    if (pack.size >= this.variantsPerImage) await this.write(packId, pack);
    else this.dirty.add(packId);
  }

  /** Writes images whose variants were only partly computed. */
  async flush(): Promise<void> {
    for (const packId of [...this.dirty]) await this.write(packId, await this.pack(packId));
  }

  private async write(packId: string, pack: Pack): Promise<void> {
    const sha = packId.slice(packId.lastIndexOf('/') + 1);
    if (this.discarded.has(sha)) return;
    await this.guard?.beforeWrite?.(sha);
    await this.bucket.file(`${EMBEDDINGS_PREFIX}${packId}.bin`).save(encodePack(pack), {
      contentType: 'application/octet-stream',
    });
    this.dirty.delete(packId);
    this.stats.uploads++;
    if (this.guard && !(await this.guard.stillWanted(sha))) await this.discard(sha);
  }

  /**
   * Forgets an erased image (by hash) and deletes its object under every backbone this cache
   * has seen; later writes of it are dropped.
   */
  async discard(imageSha256: string): Promise<void> {
    this.discarded.add(imageSha256);
    for (const packId of [...this.packs.keys()]) {
      if (!packId.endsWith(`/${imageSha256}`)) continue;
      this.packs.delete(packId);
      this.dirty.delete(packId);
      await this.bucket.file(`${EMBEDDINGS_PREFIX}${packId}.bin`).delete();
    }
    this.stats.discarded++;
  }
}

/** Storage prefix of fitted projection bases: embeddings/bases/{sample key}.bin */
export const BASES_PREFIX = `${EMBEDDINGS_PREFIX}bases/`;

/**
 * Projection bases fitted by a run (no active model to take them from), by sample key
 * (@wildlens/model: backbone, recipe and the sampled photos' hashes). A run started again on
 * the same photos reads them back instead of fitting them again (1–2 min), and so computes the
 * same featurizer key: the embeddings its predecessor cached are found.
 */
export class StorageBasesCache implements BasesCache {
  constructor(private readonly bucket: TrainerBucket) {}

  static objectName(key: string): string {
    return `${BASES_PREFIX}${key}.bin`;
  }

  async get(key: string): Promise<ProjectionBases | undefined> {
    try {
      const [bytes] = await this.bucket.file(StorageBasesCache.objectName(key)).download();
      return decodeBases(bytes);
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return undefined;
      throw err;
    }
  }

  async set(key: string, bases: ProjectionBases): Promise<void> {
    await this.bucket
      .file(StorageBasesCache.objectName(key))
      .save(Buffer.from(encodeBases(bases)), { contentType: 'application/octet-stream' });
  }
}

export function encodePack(pack: Pack): Buffer {
  const rows = [...pack.keys()]
    .sort()
    .map((variant) => ({ variant, dim: (pack.get(variant) as Float32Array).length }));
  const header = Buffer.from(JSON.stringify({ rows }));
  const out = Buffer.alloc(4 + header.length + rows.reduce((sum, r) => sum + r.dim * 4, 0));
  out.writeUInt32LE(header.length, 0);
  header.copy(out, 4);
  let offset = 4 + header.length;
  for (const { variant } of rows) {
    const row = pack.get(variant) as Float32Array;
    Buffer.from(row.buffer, row.byteOffset, row.byteLength).copy(out, offset);
    offset += row.byteLength;
  }
  return out;
}

export function decodePack(bytes: Buffer): Pack {
  const headerLength = bytes.readUInt32LE(0);
  const header = JSON.parse(bytes.subarray(4, 4 + headerLength).toString('utf8')) as
    { rows: { variant: string; dim: number }[] } | { dim: number; variants: string[] };
  const rows =
    'rows' in header
      ? header.rows
      : header.variants.map((variant) => ({ variant, dim: header.dim }));
  const pack: Pack = new Map();
  let offset = 4 + headerLength;
  for (const { variant, dim } of rows) {
    // Copy into an aligned buffer: the download's offset need not be a multiple of 4.
    const row = new Float32Array(dim);
    new Uint8Array(row.buffer).set(bytes.subarray(offset, offset + dim * 4));
    pack.set(variant, row);
    offset += dim * 4;
  }
  return pack;
}

/**
 * Storage prefix of the feature maps a sharded run's tasks share while they fit the bases:
 * embeddings/fit-maps/{sha256 of the training JPEG}.bin (an image's derived data, under
 * embeddings/ like its cached rows: an erasure deletes it with them).
 */
export const FIT_MAPS_PREFIX = `${EMBEDDINGS_PREFIX}fit-maps/`;

/**
 * What the tasks of a sharded run share while they fit the bases (@wildlens/model's
 * FitExchange): each sample photo's feature maps (~1 MB) and each fitted basis
 * (embeddings/bases/{sample key}/{basis}.bin). Everything is content-determined, so a restarted
 * run finds what its predecessor shared. The coordinator deletes it all once every task is done
 * (cleanUp); a photo erased meanwhile has its maps deleted as soon as they are written, like its
 * cached rows (EmbeddingCacheGuard).
 */
export class StorageFitExchange {
  /** Objects this task read or wrote (what cleanUp deletes). */
  private readonly touched = new Set<string>();
  readonly stats = { mapsFound: 0, mapsShared: 0, basesFound: 0, basesShared: 0 };

  constructor(
    private readonly bucket: TrainerBucket,
    private readonly taskIndex: number,
    private readonly taskCount: number,
    private readonly ownsPhoto: (sha256: string) => boolean,
    private readonly guard?: Pick<EmbeddingCacheGuard, 'stillWanted'>,
  ) {}

  static mapsName(imageSha256: string): string {
    return `${FIT_MAPS_PREFIX}${imageSha256}.bin`;
  }

  static basisName(fitKey: string, basis: string): string {
    return `${BASES_PREFIX}${fitKey}/${basis.replace(/\//g, '-')}.bin`;
  }

  /** The exchange of one fit (prepareFeaturizer's fitExchange). */
  forFit(fitKey: string, tag: string): FitExchange {
    const read = async (name: string): Promise<Buffer | undefined> => {
      this.touched.add(name);
      try {
        return (await this.bucket.file(name).download())[0];
      } catch (err) {
        if ((err as { code?: unknown }).code === 404) return undefined;
        throw err;
      }
    };
    const write = async (name: string, bytes: Uint8Array): Promise<void> => {
      this.touched.add(name);
      await this.bucket
        .file(name)
        .save(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
          contentType: 'application/octet-stream',
        });
    };
    return {
      taskIndex: this.taskIndex,
      taskCount: this.taskCount,
      ownsPhoto: this.ownsPhoto,
      getMaps: async (sha) => {
        const bytes = await read(StorageFitExchange.mapsName(sha));
        const maps = bytes && decodeMaps(bytes, tag);
        if (maps) this.stats.mapsFound++;
        return maps;
      },
      putMaps: async (sha, maps) => {
        const name = StorageFitExchange.mapsName(sha);
        await write(name, encodeMaps(maps, tag));
        this.stats.mapsShared++;
        if (this.guard && !(await this.guard.stillWanted(sha)))
          await this.bucket.file(name).delete();
      },
      getBasis: async (basis) => {
        const bytes = await read(StorageFitExchange.basisName(fitKey, basis));
        const found = bytes && decodeBases(bytes)[basis];
        if (found) this.stats.basesFound++;
        return found;
      },
      putBasis: async (basis, fitted) => {
        await write(StorageFitExchange.basisName(fitKey, basis), encodeBases({ [basis]: fitted }));
        this.stats.basesShared++;
      },
    };
  }

  /**
   * Deletes what this task's fits read or wrote, and the maps of `sampleHashes` (a predecessor's,
   * when this run found its bases already fitted): once every task is done, nobody needs them.
   */
  async cleanUp(sampleHashes: string[]): Promise<number> {
    const names = new Set([...this.touched, ...sampleHashes.map(StorageFitExchange.mapsName)]);
    await mapLimit([...names], 8, (name) => this.bucket.file(name).delete());
    return names.size;
  }
}
