import { createHash } from 'node:crypto';
import { expect, it } from 'vitest';
import { SYNTHETIC_NEGATIVE_KINDS, generateSyntheticNegatives } from './synthetic-negatives.js';

const hashes = async (seed: number) =>
  (await generateSyntheticNegatives(SYNTHETIC_NEGATIVE_KINDS.length, seed)).map((n) =>
    createHash('sha256').update(n.image).digest('hex'),
  );

// A run caches the negatives' embeddings by content hash: pictures that changed from run to run
// (libvips' unseeded noise did) were embedded again each time and left orphans in the cache.
it('draws the same pictures, of every kind, for the same seed', async () => {
  const first = await hashes(101);
  expect(await hashes(101)).toEqual(first);
  expect(new Set(first).size).toBe(SYNTHETIC_NEGATIVE_KINDS.length);
  expect(await hashes(102)).not.toEqual(first);
});
