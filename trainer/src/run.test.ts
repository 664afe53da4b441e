import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, type EmbeddedImage } from '@wildlens/model';
import { decodePack, encodePack } from './storage-embedding-cache.js';
import {
  DEFAULT_TRAINER_OPTIONS,
  confusionForFirestore,
  countBySpecies,
  evaluateOnHoldout,
  shardOf,
  trainVariantsFor,
} from './run.js';

describe('sharding', () => {
  it('deals every image to exactly one task', () => {
    const items = Array.from({ length: 11 }, (_, i) => i);
    const shards = [0, 1, 2].map((t) => shardOf(items, t, 3));
    expect(shards.flat().sort((a, b) => a - b)).toEqual(items);
    expect(shards.map((s) => s.length)).toEqual([4, 4, 3]);
  });
});

it('names the same views as the model library recipe', () => {
  expect(trainVariantsFor(2, 'flip')).toEqual(['center', 'flip', 'aug0', 'aug1']);
  expect(trainVariantsFor(0, 'multi')).toEqual(['center', 'flip', 'crop-tl', 'crop-br']);
});

it('round-trips embedding packs', () => {
  const pack = new Map([
    ['center', new Float32Array([1, 2, 3])],
    ['aug0', new Float32Array([-1, 0.5, 7])],
  ]);
  const back = decodePack(Buffer.concat([Buffer.from([0]), encodePack(pack)]).subarray(1));
  expect([...back.keys()].sort()).toEqual(['aug0', 'center']);
  expect([...(back.get('aug0') as Float32Array)]).toEqual([-1, 0.5, 7]);
});

describe('held-out evaluation', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('scores separable classes perfectly and stores the confusion matrix without nested arrays', () => {
    const labels = ['a', 'b', 'c'];
    const dim = 8;
    const embedded: EmbeddedImage[] = [];
    for (const [c, label] of labels.entries()) {
      for (let k = 0; k < 10; k++) {
        const views = new Map<string, Float32Array>();
        for (const v of trainVariantsFor(2, 'flip')) {
          const e = new Float32Array(dim).map(
            (_, j) => (j === c ? 1 : 0) + ((k * 7 + j) % 5) * 0.01,
          );
          views.set(v, e);
        }
        embedded.push({ id: `${label}${k}`, label, sha256: `${label}${k}`, views });
      }
    }
    const report = evaluateOnHoldout(embedded, labels, DEFAULT_TRAINER_OPTIONS);
    expect(report.top1).toBe(1);
    expect(report.n + report.trainCount).toBe(30);
    const confusion = confusionForFirestore(report);
    expect(confusion.labels).toEqual(labels);
    expect(confusion.rows.a?.[0]).toBeGreaterThan(0);
  });
});

it('counts images per species', () => {
  expect(
    countBySpecies([{ speciesId: 'loup' }, { speciesId: 'loup' }, { speciesId: 'lynx' }]),
  ).toEqual({ loup: 2, lynx: 1 });
});
