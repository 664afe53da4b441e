/**
 * Pinned weights (issue 20, finding 17): a backbone whose files are pinned loads only from
 * files with those SHA-256, from a local dir or a download; a tampered file is refused with a
 * message naming it, and a tampered download is never cached.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MOBILENET_V1_075_SHA256 } from './backbone-digests.js';
import { getBackboneSpec, resolveArtifacts, type BackboneSpec } from './backbones.js';
import { hasShared, SHARED_DIR } from './test-helpers.js';
import { NEEDS } from '../../../tests/requirements.js';

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

/** A two-file "model" (model.json + one shard): enough for the checks, which run before tfjs. */
const MODEL_JSON = JSON.stringify({
  format: 'layers-model',
  modelTopology: { config: {} },
  weightsManifest: [{ paths: ['group1-shard1of1'], weights: [] }],
});
const SHARD = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
const PINS = { 'model.json': sha256(MODEL_JSON), 'group1-shard1of1': sha256(SHARD) };

/** A models dir holding `files` under pinned-test/ (the spec's id). */
async function modelDir(files: Record<string, Uint8Array | string>): Promise<string> {
  const base = await mkdtemp(path.join(os.tmpdir(), 'wl-pins-'));
  const dir = path.join(base, 'pinned-test');
  await mkdir(dir);
  for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(dir, name), bytes);
  return base;
}

const localSpec = (localDir: string): BackboneSpec => ({
  id: 'pinned-test',
  inputSize: 224,
  featureDim: 8,
  preprocessing: 'unit',
  sources: [{ kind: 'local', envVar: 'WILDLENS_PINNED_TEST_DIR', defaultDir: localDir }],
  fileSha256: PINS,
  featureOutputs: [],
  license: 'test',
  origin: 'test',
});

const tampered = Uint8Array.from(SHARD, (b, i) => (i === 3 ? b ^ 1 : b));

describe('pinned backbone weights', () => {
  it('loads the pinned files from a local dir', async () => {
    const dir = await modelDir({ 'model.json': MODEL_JSON, 'group1-shard1of1': SHARD });
    const resolved = await resolveArtifacts(localSpec(dir), {});
    expect(resolved.from).toBe(path.join(dir, 'pinned-test'));
  });

  it('refuses a tampered shard, and a tampered model.json, naming the file', async () => {
    const badShard = await modelDir({ 'model.json': MODEL_JSON, 'group1-shard1of1': tampered });
    await expect(resolveArtifacts(localSpec(badShard), {})).rejects.toThrow(
      /group1-shard1of1 has SHA-256 [0-9a-f]{64}, pinned [0-9a-f]{64}: refusing these weights/,
    );
    const otherJson = MODEL_JSON.replace('"config":{}', '"config":{"extra":1}');
    const badJson = await modelDir({ 'model.json': otherJson, 'group1-shard1of1': SHARD });
    await expect(resolveArtifacts(localSpec(badJson), {})).rejects.toThrow(
      /model\.json has SHA-256 [0-9a-f]{64}, pinned/,
    );
  });

  it('checks a download before caching it: a tampered one is refused and never cached', async () => {
    const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'wl-pins-cache-'));
    let shard = tampered;
    const served: string[] = [];
    const fetchImpl = (async (url: string | URL) => {
      const name = new URL(url).pathname.split('/').pop() as string;
      served.push(name);
      return new Response(name === 'model.json' ? MODEL_JSON : shard);
    }) as typeof fetch;
    const spec: BackboneSpec = {
      ...localSpec('/nonexistent'),
      sources: [{ kind: 'url', url: 'https://example.invalid/pinned/model.json' }],
    };
    await expect(resolveArtifacts(spec, { cacheDir, fetchImpl })).rejects.toThrow(
      /group1-shard1of1 has SHA-256 .*refusing these weights/,
    );
    expect(existsSync(path.join(cacheDir, 'pinned-test', 'model.json'))).toBe(false);
    // The genuine files, served next: downloaded, cached, loaded.
    shard = SHARD;
    const resolved = await resolveArtifacts(spec, { cacheDir, fetchImpl });
    expect(resolved.from).toBe(path.join(cacheDir, 'pinned-test'));
    expect(served).toEqual(['model.json', 'group1-shard1of1', 'model.json', 'group1-shard1of1']);
  });

  it('pins every file of MobileNetV1 0.75, whatever its source', () => {
    const spec = getBackboneSpec('mobilenet-v1-0.75');
    expect(spec.fileSha256).toBe(MOBILENET_V1_075_SHA256);
    expect(getBackboneSpec('mobilenet-v1-0.75@192').fileSha256).toBe(MOBILENET_V1_075_SHA256);
    expect(Object.keys(MOBILENET_V1_075_SHA256)).toHaveLength(56);
  });

  describe.skipIf(!hasShared)('the MobileNetV1 copy of ../shared', NEEDS.shared, () => {
    const models = path.join(SHARED_DIR, 'models');

    it('has exactly the pinned files', async () => {
      const spec = getBackboneSpec('mobilenet-v1-0.75');
      const resolved = await resolveArtifacts(spec, { localDir: models });
      expect(resolved.from).toBe(path.join(models, 'mobilenet-v1-0.75'));
    });

    it('is refused once one byte of one shard changes (a copy in the OS temp dir)', async () => {
      const copy = await mkdtemp(path.join(os.tmpdir(), 'wl-pins-mnv1-'));
      await cp(path.join(models, 'mobilenet-v1-0.75'), path.join(copy, 'mobilenet-v1-0.75'), {
        recursive: true,
      });
      const shard = path.join(copy, 'mobilenet-v1-0.75', 'group5-shard1of1');
      const bytes = new Uint8Array(await readFile(shard));
      bytes[0] = (bytes[0] as number) ^ 0x80;
      await writeFile(shard, bytes);
      await expect(
        resolveArtifacts(getBackboneSpec('mobilenet-v1-0.75'), { localDir: copy }),
      ).rejects.toThrow(/group5-shard1of1 has SHA-256 .*refusing these weights/);
    });
  });
});
