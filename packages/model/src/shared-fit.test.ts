/**
 * The bases fit shared between the tasks of a sharded run (FitExchange): the same bases and
 * features, bit for bit, as one task fitting alone, whoever computed which maps and bases; and
 * what a task finds already shared is not computed again. On a tiny backbone (milliseconds).
 */
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import type { Backbone } from './backbones.js';
import { sha256Hex } from './embedding-cache.js';
import {
  DEFAULT_FEATURE_RECIPE,
  PhotoFeaturizer,
  decodeBases,
  decodeMaps,
  encodeBases,
  encodeMaps,
  fitFeaturizer,
  mapsTag,
  recipeFor,
  shareBases,
  type FitExchange,
  type KeptMaps,
} from './features.js';
import type { ProjectionBasis } from './projection.js';
import { tinySpatialBackbone } from './tiny-backbone.js';
import {
  MIRROR_VIEW,
  PHOTO_VIEW,
  embedImages,
  prepareFeaturizer,
  type TrainingImage,
} from './training.js';

/** Bilinear pooling (the default recipe's), small. */
const features = { ...DEFAULT_FEATURE_RECIPE, wholeLongSide: 256, bilinearDim: 8 };

/** Photos of two sizes (whole views of two shapes: maps of two shapes in the random stream). */
async function photos(n: number): Promise<(TrainingImage & { sha256: string })[]> {
  const out: (TrainingImage & { sha256: string })[] = [];
  for (let i = 0; i < n; i++) {
    const [w, h] = i % 3 === 0 ? [640, 480] : [240, 200];
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="100%" height="100%" fill="#${(0x203040 + i * 0x151515).toString(16).slice(-6)}"/><circle cx="${w / 3 + i * 7}" cy="${h / 2}" r="${h / 6}" fill="#e0e0e0"/><rect x="${i * 11}" y="${i * 5}" width="30" height="20" fill="#101010"/></svg>`;
    const bytes = await sharp(Buffer.from(svg)).jpeg().toBuffer();
    const id = `photo-${i}`;
    out.push({
      id,
      label: `s${i % 2}`,
      group: id,
      domain: 'crop',
      sha256: sha256Hex(bytes),
      read: async () => bytes,
    });
  }
  return out;
}

const bytesOf = (a: Float32Array | undefined) =>
  a ? new Uint8Array(a.buffer, a.byteOffset, a.byteLength) : undefined;

/** What the tasks share (the trainer: Storage), as bytes, counting what is put. */
function memoryStore() {
  const objects = new Map<string, Uint8Array>();
  const counts = { mapsPut: 0, basesPut: 0 };
  const exchange = (
    taskIndex: number,
    taskCount: number,
    owns: (sha256: string) => boolean,
  ): ((fitKey: string, tag: string) => FitExchange) => {
    return (fitKey, tag) => ({
      taskIndex,
      taskCount,
      ownsPhoto: owns,
      getMaps: async (sha) => {
        const bytes = objects.get(`${fitKey}/maps/${sha}`);
        return bytes && decodeMaps(bytes, tag);
      },
      putMaps: async (sha, maps) => {
        counts.mapsPut++;
        objects.set(`${fitKey}/maps/${sha}`, encodeMaps(maps, tag));
      },
      getBasis: async (name) => {
        const bytes = objects.get(`${fitKey}/basis/${name}`);
        return bytes && (decodeBases(bytes)[name] as ProjectionBasis);
      },
      putBasis: async (name, basis) => {
        counts.basesPut++;
        objects.set(`${fitKey}/basis/${name}`, encodeBases({ [name]: basis }));
      },
    });
  };
  return { objects, counts, exchange };
}

let loaded: Backbone;
/** Feature map computations (each is a run of the backbone on one rendered view). */
let runs = 0;
let backbone: Backbone;
beforeAll(async () => {
  await initBackend();
  loaded = await tinySpatialBackbone();
  const spatialParts = loaded.spatialParts!.bind(loaded);
  backbone = {
    ...loaded,
    spatialParts: (...args) => {
      runs++;
      return spatialParts(...args);
    },
  };
});
afterAll(() => loaded.dispose());

describe('the bases fit shared between shards', () => {
  it('gives the bases and features of a fit alone, bit for bit, and computes nothing twice', async () => {
    const images = await photos(9);
    const tensorsBefore = tf.memory().numTensors;
    runs = 0;
    const alone = await prepareFeaturizer(images, backbone, { features, keepSampleMaps: false });
    const aloneRuns = runs;
    expect(aloneRuns).toBeGreaterThanOrEqual(images.length);
    expect(Object.keys(alone.bases).length).toBeGreaterThan(1);

    // Task 0 of 2 runs first and alone (the other started late): it computes every map,
    // its own first, and every basis (having first computed its photos' mirror maps while the
    // other's basis was not there); task 1 then finds everything and runs nothing.
    const store = memoryStore();
    const shard = (i: number) => new Set(images.filter((_, k) => k % 2 === i).map((x) => x.sha256));
    const own = [shard(0), shard(1)];
    runs = 0;
    const first = await prepareFeaturizer(images, backbone, {
      features,
      keepSampleMaps: own[0],
      fitExchange: store.exchange(0, 2, (sha) => own[0]!.has(sha)),
    });
    expect(runs).toBe(aloneRuns + (own[0]!.size * aloneRuns) / images.length);
    expect(first.keptMapsStats().photos).toBe(2 * own[0]!.size);
    expect(store.counts).toEqual({
      mapsPut: images.length,
      basesPut: Object.keys(alone.bases).length,
    });
    runs = 0;
    const second = await prepareFeaturizer(images, backbone, {
      features,
      keepSampleMaps: own[1],
      fitExchange: store.exchange(1, 2, (sha) => own[1]!.has(sha)),
    });
    expect(runs).toBe(0);
    expect(store.counts.mapsPut).toBe(images.length);
    expect(store.counts.basesPut).toBe(Object.keys(alone.bases).length);

    for (const f of [first, second]) {
      expect(f.key).toBe(alone.key);
      expect(Object.keys(f.bases)).toEqual(Object.keys(alone.bases));
      expect(encodeBases(f.bases)).toEqual(encodeBases(alone.bases));
    }
    // Each keeps its own sample photos' maps, read back from the store for the second: the photo
    // rows pooled from them are those the backbone gives.
    expect(second.keptMapsStats().photos).toBe(own[1]!.size);
    const mine = images.filter((x) => own[1]!.has(x.sha256));
    const rows = await embedImages(mine, second);
    const computing = new PhotoFeaturizer(backbone, alone.recipe, alone.bases);
    const plain = await embedImages(mine, computing);
    for (const [i, row] of rows.entries())
      for (const view of [PHOTO_VIEW, MIRROR_VIEW])
        expect(bytesOf(row.views.get(view))).toEqual(bytesOf(plain[i]!.views.get(view)));
    for (const f of [alone, first, second, computing]) f.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('gives the same bases when the tasks run side by side, one for each half', async () => {
    const images = await photos(8);
    const alone = await prepareFeaturizer(images, backbone, { features, keepSampleMaps: false });
    const store = memoryStore();
    const own = (i: number) => (sha: string) => images.findIndex((x) => x.sha256 === sha) % 2 === i;
    runs = 0;
    const both = await Promise.all(
      [0, 1].map((i) =>
        prepareFeaturizer(images, backbone, {
          features,
          keepSampleMaps: false,
          fitExchange: store.exchange(i, 2, own(i)),
        }),
      ),
    );
    for (const f of both) expect(encodeBases(f.bases)).toEqual(encodeBases(alone.bases));
    for (const f of [alone, ...both]) f.dispose();
  });

  it('works ahead on its own rows while another task’s basis is not there, the same bits', async () => {
    const images = await photos(9);
    const recipe = recipeFor(backbone, features);
    const alone = await fitFeaturizer(images.slice(0, 4), backbone, recipe, { keepMaps: false });
    // Task 1 of 2 alone (the other never publishes): it waits for no one, and before fitting the
    // other's basis itself it computes the maps of every row it embeds next.
    const store = memoryStore();
    const own = new Set(images.filter((_, k) => k % 2 === 1).map((x) => x.sha256));
    const exchange = store.exchange(1, 2, (sha) => own.has(sha))('key', mapsTag(backbone, recipe));
    runs = 0;
    const sharing = await fitFeaturizer(images, backbone, recipe, {
      sampleSize: 4,
      keepMaps: (sha) => own.has(sha),
      exchange,
    });
    expect(encodeBases(sharing.bases)).toEqual(encodeBases(alone.bases));
    // The sample's 4 photo rows, then the mirror rows of its 2 sample photos and both rows of its
    // 2 other photos.
    expect(runs).toBe((4 + 2 + 2 * 2) * recipe.views.length);
    const mine = images.filter((x) => own.has(x.sha256));
    runs = 0;
    const rows = await embedImages(mine, sharing);
    expect(runs).toBe(0);
    expect(sharing.keptMapsStats()).toEqual({ photos: 0, bytes: 0 });
    const computing = new PhotoFeaturizer(backbone, recipe, alone.bases);
    const plain = await embedImages(mine, computing);
    for (const [i, row] of rows.entries())
      for (const view of [PHOTO_VIEW, MIRROR_VIEW])
        expect(bytesOf(row.views.get(view))).toEqual(bytesOf(plain[i]!.views.get(view)));
    for (const f of [alone, sharing, computing]) f.dispose();
  });

  it('fails when what it shares cannot be written, once every photo is done', async () => {
    const images = await photos(3);
    const store = memoryStore();
    const failing = (fitKey: string, tag: string): FitExchange => ({
      ...store.exchange(0, 2, () => true)(fitKey, tag),
      putMaps: async () => {
        throw new Error('écriture refusée');
      },
    });
    await expect(
      prepareFeaturizer(images, backbone, { features, fitExchange: failing }),
    ).rejects.toThrow('écriture refusée');
  });

  it('shares maps and bases as bytes that give them back, and no others', async () => {
    const values = Float32Array.from([1.5, -2, 3.25, Math.PI, 0, -0, 7e-30, 1e30]);
    const maps: KeptMaps = new Map([
      [
        'center',
        new Map([[1, { values, shape: [1, 2, 2, 2] as [number, number, number, number] }]]),
      ],
      [
        'whole',
        new Map([
          [
            0,
            { values: values.slice(0, 4), shape: [1, 1, 2, 2] as [number, number, number, number] },
          ],
        ]),
      ],
    ]);
    const back = decodeMaps(encodeMaps(maps, 'tag-a'), 'tag-a')!;
    expect([...back.keys()]).toEqual(['center', 'whole']);
    expect(bytesOf(back.get('center')!.get(1)!.values)).toEqual(bytesOf(values));
    expect(back.get('whole')!.get(0)!.shape).toEqual([1, 1, 2, 2]);
    // Maps of another backbone or recipe are not taken for these.
    expect(decodeMaps(encodeMaps(maps, 'tag-a'), 'tag-b')).toBeUndefined();
    // Nor are bytes that are not such maps (cut short, or anything else).
    const bytes = encodeMaps(maps, 'tag-a');
    expect(decodeMaps(bytes.subarray(0, bytes.length - 4), 'tag-a')).toBeUndefined();
    expect(decodeMaps(new TextEncoder().encode('not maps at all'), 'tag-a')).toBeUndefined();
    // Bytes read into a view of a larger buffer at an odd offset (a Node Buffer from a pool).
    const pooled = Buffer.concat([Buffer.from([9]), Buffer.from(bytes)]).subarray(1);
    expect(bytesOf(decodeMaps(pooled, 'tag-a')!.get('center')!.get(1)!.values)).toEqual(
      bytesOf(values),
    );
  });

  it("keeps the bases' byte layout (bases cached by earlier runs stay readable)", () => {
    const basis: ProjectionBasis = {
      channels: 2,
      dim: 1,
      mean: Float32Array.from([0.5, -1]),
      components: Float32Array.from([2, 4]),
    };
    const bytes = encodeBases({ 'whole/0': basis });
    const header = '[{"name":"whole/0","channels":2,"dim":1}]';
    // uint32 LE header length (padded with spaces to align the floats), header, mean, components.
    const padded = header.length + ((4 - ((4 + header.length) % 4)) % 4);
    expect(new DataView(bytes.buffer).getUint32(0, true)).toBe(padded);
    expect(new TextDecoder().decode(bytes.subarray(4, 4 + padded)).trimEnd()).toBe(header);
    expect([...new Float32Array(bytes.slice(4 + padded).buffer)]).toEqual([0.5, -1, 2, 4]);
    const pooled = Buffer.concat([Buffer.from([1, 2, 3]), Buffer.from(bytes)]).subarray(3);
    expect(decodeBases(pooled)['whole/0']).toEqual(basis);
  });

  it('shares the bases out by cost, the same way in every task', () => {
    const costs = [
      { name: 'center/0', cost: 6144 * 1792 * 1792 },
      { name: 'center/1', cost: 4608 * 768 * 768 },
      { name: 'whole/1', cost: 6144 * 768 * 768 },
    ];
    const two = shareBases(costs, 2);
    expect(two.get('center/0')).toBe(0);
    expect(two.get('whole/1')).toBe(1);
    expect(two.get('center/1')).toBe(1);
    expect(shareBases([...costs].reverse(), 2)).toEqual(two);
    expect([...shareBases(costs, 1).values()]).toEqual([0, 0, 0]);
  });
});
