/**
 * The runtime end to end under Node (wasm backend), on tiny stand-ins of the default recipe's
 * backbones (packages/model/src/tiny-backbone.ts): a bundle exported from a model answers like
 * the server's FootprintModel on the same photos; a bundle that fails its checks is refused.
 * The same with the real backbones: tests/e2e/offline-bundle-backbones.test.ts (Node), and on
 * real photos in Chromium, tests/e2e/offline-bundle.test.ts.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FootprintModel,
  buildOfflineBundle,
  dirReader,
  initBackend,
  readModelData,
  saveModel,
  type OfflineBundle,
} from '@wildlens/model';
import { assessObservation, loadSpeciesCatalog, type DialogueParameters } from '@wildlens/shared';
import { syntheticFormat2Model, texturedPhoto } from '../../model/src/test-helpers.js';
import { tinyRecipeBackbones, type TinyRecipeBackbones } from '../../model/src/tiny-backbone.js';
import { loadOfflineBundle, onDeviceResult, type OfflineModel } from './runtime.js';
import { browserDecode as decoded, memoryReader as readerOf } from './test-helpers.js';

const SPECIES = [{ speciesId: 'loup', nameFr: 'Loup gris' }];

let tiny: TinyRecipeBackbones;

/** A synthetic model on `backboneId`, saved in a fresh directory. */
async function savedModel(backboneId: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wl-runtime-model-'));
  await saveModel(await syntheticFormat2Model(backboneId, 3, tiny.backboneOptions), dir);
  return dir;
}

function bundleOf(
  dir: string,
  quantization?: 'float32' | 'float16',
  species: { speciesId: string }[] = SPECIES,
  version = 'runtime-test',
): Promise<OfflineBundle> {
  return buildOfflineBundle({
    model: dirReader(dir),
    version,
    species,
    ...(quantization ? { quantization } : {}),
    backbone: tiny.backboneOptions,
  });
}

/** Photos of every path: enlarged, reduced, oriented, PNG, and one shrunk on load by sharp. */
const PHOTOS: [number, number, Parameters<typeof texturedPhoto>[2]][] = [
  [300, 400, { seed: 31 }],
  [1024, 683, { seed: 32 }],
  [800, 600, { orientation: 6, seed: 33 }],
  [600, 450, { format: 'png', seed: 34 }],
  [2000, 1500, { seed: 35 }],
];

beforeAll(async () => {
  await initBackend();
  tiny = await tinyRecipeBackbones();
});

describe('loadOfflineBundle on the default recipe’s shape (graph part + folded chain)', () => {
  let modelDir: string;
  let bundle: OfflineBundle;
  let server: FootprintModel;
  let model: OfflineModel;

  beforeAll(async () => {
    modelDir = await savedModel(tiny.ensembleId);
    bundle = await bundleOf(modelDir, 'float32');
    server = await FootprintModel.create(
      await readModelData(dirReader(modelDir)),
      tiny.backboneOptions,
    );
    model = await loadOfflineBundle(bundle.manifest, readerOf(bundle.files));
  });

  afterAll(() => {
    model?.dispose();
    server?.dispose();
  });

  it('answers like the server with float32 weights: same verdict, same probabilities', async () => {
    expect(model.manifest.backbone.parts.map((p) => p.weights.origin)).toEqual([
      'as-shipped',
      'exported',
    ]);
    for (const [width, height, options] of PHOTOS) {
      const bytes = await texturedPhoto(width, height, options);
      const expected = await server.predict(bytes);
      const actual = model.identify(await decoded(bytes));
      const label = `${width}×${height} ${JSON.stringify(options)}`;
      expect(actual.verdict, label).toBe(expected.verdict);
      expect(actual.domain, label).toBe(expected.domain);
      expect(
        actual.top.map((t) => t.speciesId),
        label,
      ).toEqual(expected.top.map((t) => t.speciesId));
      // Bit-exact pixels give the server's features (measured: the same probabilities to the
      // last bit); the shrunk-on-load JPEG is a few levels off, which moves them by ~3e-4 here:
      // 1e-5 sees a pixel off.
      const tolerance = width >= 2000 ? 0.01 : 1e-5;
      for (const { speciesId, probability } of expected.top)
        expect(Math.abs(actual.probabilities[speciesId]! - probability), label).toBeLessThan(
          tolerance,
        );
      expect(actual.bundleVersion).toBe('runtime-test');
    }
  });

  it('agrees with the server within the float16 rounding (the default quantisation)', async () => {
    const half = await bundleOf(modelDir);
    expect(half.manifest.backbone.parts[1]!.weights.quantization).toBe('float16');
    const halfModel = await loadOfflineBundle(half.manifest, readerOf(half.files));
    try {
      for (const [width, height, options] of PHOTOS.slice(0, 4)) {
        const bytes = await texturedPhoto(width, height, options);
        const expected = await server.predict(bytes);
        const actual = halfModel.identify(await decoded(bytes));
        expect(actual.top[0]!.speciesId).toBe(expected.top[0]!.speciesId);
        // The tolerance of the real MobileNetV1's float16 weights; measured 0.005–0.007 here
        // (this synthetic head is more sensitive than a trained one).
        for (const { speciesId, probability } of expected.top)
          expect(Math.abs(actual.probabilities[speciesId]! - probability)).toBeLessThan(0.01);
      }
    } finally {
      halfModel.dispose();
    }
  });

  it('keeps what a later sync sends: verdict, top 3 rounded, domain, bundle version', async () => {
    const result = onDeviceResult(
      model.identify(await decoded(await texturedPhoto(400, 300))),
      new Date('2026-05-01T08:00:00Z'),
    );
    expect(Object.keys(result).sort()).toEqual([
      'bundleVersion',
      'domain',
      'identifiedAt',
      'oodScore',
      'top',
      'verdict',
    ]);
    expect(result.identifiedAt).toBe('2026-05-01T08:00:00.000Z');
    expect(result.top).toHaveLength(3);
    expect(result.top[0]!.probability).toBe(Math.round(result.top[0]!.probability * 1e4) / 1e4);
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
  });

  it('exposes the French sheets it carries', () => {
    expect(model.species.find((s) => s.speciesId === 'loup')?.nameFr).toBe('Loup gris');
  });

  it('refuses a tampered file before using anything', async () => {
    const files = new Map(bundle.files);
    const weights = Uint8Array.from(files.get('backbone/1/weights.bin')!);
    const at = weights.length >> 1;
    weights[at] = (weights[at]! + 1) % 256;
    files.set('backbone/1/weights.bin', weights);
    await expect(loadOfflineBundle(bundle.manifest, readerOf(files))).rejects.toMatchObject({
      code: 'digest-mismatch',
      file: 'backbone/1/weights.bin',
    });
    const truncated = new Map(bundle.files);
    truncated.set('model/head.bin', bundle.files.get('model/head.bin')!.subarray(8));
    await expect(loadOfflineBundle(bundle.manifest, readerOf(truncated))).rejects.toMatchObject({
      code: 'size-mismatch',
    });
    const missing = new Map(bundle.files);
    missing.delete('species.json');
    await expect(loadOfflineBundle(bundle.manifest, readerOf(missing))).rejects.toMatchObject({
      code: 'missing-file',
      file: 'species.json',
    });
  });

  it('refuses a bundle whose format version it does not know', async () => {
    await expect(
      loadOfflineBundle({ ...bundle.manifest, formatVersion: 2 }, readerOf(bundle.files)),
    ).rejects.toMatchObject({ code: 'unsupported-format' });
    await expect(
      loadOfflineBundle({ ...bundle.manifest, format: 'something-else' }, readerOf(bundle.files)),
    ).rejects.toMatchObject({ code: 'unsupported-format' });
    await expect(
      loadOfflineBundle({ ...bundle.manifest, totalSize: 1 }, readerOf(bundle.files)),
    ).rejects.toMatchObject({ code: 'invalid-manifest' });
  });
});

describe('the dialogue on the device (issue 22: candidate sets, track traits, ranges)', () => {
  /** Fitted parameters as training writes them (dialogue-fitting.ts), for the test model's labels. */
  const PARAMETERS: DialogueParameters = {
    version: 1,
    coverage: 0.9,
    score: 'aps',
    photoCorrelation: 0.5,
    byDomain: {},
    default: { identified: 0.97, conformalQuantiles: [0.8, 0.7, 0.6] },
    fitted: { note: 'informative only' },
  };
  const catalogue = loadSpeciesCatalog().species;
  let model: OfflineModel;
  let bundle: OfflineBundle;
  let plain: OfflineBundle;

  beforeAll(async () => {
    // A single part, like the npm-shipped backbone alone (the fallback recipe).
    const dir = await savedModel(tiny.graphId);
    plain = await bundleOf(dir);
    const manifestPath = path.join(dir, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
    await writeFile(manifestPath, JSON.stringify({ ...manifest, dialogue: PARAMETERS }));
    // The sheets as the functions export them (toSheet: the catalogue's traits and range).
    const sheets = catalogue.map(({ id, nameFr, track, range }) => ({
      speciesId: id,
      nameFr,
      track,
      range,
    }));
    bundle = await bundleOf(dir, undefined, sheets, 'dialogue');
    model = await loadOfflineBundle(bundle.manifest, readerOf(bundle.files));
  });

  afterAll(() => model?.dispose());

  it('carries the fitted parameters and each species’ track traits and range', () => {
    const carried = JSON.parse(
      new TextDecoder().decode(bundle.files.get('model/manifest.json')),
    ) as { dialogue?: unknown };
    expect(carried.dialogue).toEqual(PARAMETERS);
    expect(model.species.map((s) => s.speciesId)).toEqual(['loup', 'lynx', 'renard']);
    for (const sheet of model.species) {
      const expected = catalogue.find((s) => s.id === sheet.speciesId);
      expect(sheet.track).toEqual(expected?.track);
      expect(sheet.range).toEqual(expected?.range);
    }
  });

  it('answers the observation as the server does: verdict, candidates with their coverage, question, zone', async () => {
    const identification = model.identify(
      await decoded(await texturedPhoto(640, 480, { seed: 7 })),
    );
    const location = { lat: 45.2, lng: 5.7 };
    for (const answers of [{}, { toes: '4' as const }]) {
      const assessed = model.assess(identification, { location, answers });
      // The server's computation (observation-evidence.ts assessedFields) on the same evidence.
      const server = assessObservation({
        photos: [
          {
            probabilities: identification.probabilities,
            ...(identification.domain ? { domain: identification.domain } : {}),
            notFootprint: identification.verdict === 'not_a_footprint',
          },
        ],
        answers,
        location,
        parameters: PARAMETERS,
        species: catalogue,
      });
      expect(assessed.candidates).toEqual(server.candidates);
      expect(assessed.candidates.coverage).toBe(0.9);
      expect(assessed.verdict).toBe(server.verdict);
      expect(assessed.top.map((t) => t.speciesId)).toEqual(
        server.top.slice(0, 3).map((t) => t.speciesId),
      );
      expect(assessed.nextQuestion?.id ?? null).toBe(server.nextQuestion?.id ?? null);
      expect(assessed.zone).toBe('europe');
    }
  });

  it('a bundle without fitted parameters gives candidates without a stated coverage', async () => {
    const bare = await loadOfflineBundle(plain.manifest, readerOf(plain.files));
    try {
      const identification = bare.identify(await decoded(await texturedPhoto(640, 480)));
      const assessed = bare.assess(identification);
      expect(assessed.candidates.coverage).toBeNull();
      expect(assessed.candidates.speciesIds.length).toBeGreaterThan(0);
      expect(assessed.verdict).not.toBe('identified');
    } finally {
      bare.dispose();
    }
  });
});
