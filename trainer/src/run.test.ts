import { describe, expect, it } from 'vitest';
import { decodePack, encodePack } from './storage-embedding-cache.js';
import { countBySpecies, shardOf, trainVariantsFor } from './run.js';

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

it('counts images per species', () => {
  expect(
    countBySpecies([{ speciesId: 'loup' }, { speciesId: 'loup' }, { speciesId: 'lynx' }]),
  ).toEqual({ loup: 2, lynx: 1 });
});
