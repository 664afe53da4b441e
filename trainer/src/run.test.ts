import { describe, expect, it } from 'vitest';
import { decodePack, encodePack } from './storage-embedding-cache.js';
import { countBySpecies, shardOf } from './run.js';

describe('sharding', () => {
  it('deals every image to exactly one task', () => {
    const items = Array.from({ length: 11 }, (_, i) => i);
    const shards = [0, 1, 2].map((t) => shardOf(items, t, 3));
    expect(shards.flat().sort((a, b) => a - b)).toEqual(items);
    expect(shards.map((s) => s.length)).toEqual([4, 4, 3]);
  });
});

it('round-trips embedding packs whose rows differ in length', () => {
  const pack = new Map([
    ['center', new Float32Array([1, 2, 3])],
    ['k@abc/photo', new Float32Array([-1, 0.5, 7, 8, 9])],
  ]);
  const back = decodePack(Buffer.concat([Buffer.from([0]), encodePack(pack)]).subarray(1));
  expect([...back.keys()].sort()).toEqual(['center', 'k@abc/photo']);
  expect([...(back.get('k@abc/photo') as Float32Array)]).toEqual([-1, 0.5, 7, 8, 9]);
  expect([...(back.get('center') as Float32Array)]).toEqual([1, 2, 3]);
});

it('reads embedding packs written before rows could differ in length', () => {
  const header = Buffer.from(JSON.stringify({ dim: 2, variants: ['center', 'flip'] }));
  const bytes = Buffer.alloc(4 + header.length + 16);
  bytes.writeUInt32LE(header.length, 0);
  header.copy(bytes, 4);
  Buffer.from(new Float32Array([1, 2, 3, 4]).buffer).copy(bytes, 4 + header.length);
  const back = decodePack(bytes);
  expect([...(back.get('flip') as Float32Array)]).toEqual([3, 4]);
});

it('counts images per species', () => {
  expect(
    countBySpecies([{ speciesId: 'loup' }, { speciesId: 'loup' }, { speciesId: 'lynx' }]),
  ).toEqual({ loup: 2, lynx: 1 });
});
