import { describe, expect, it } from 'vitest';
import { HANG_BOUND_MS } from '../../../tests/hang-bound.js';
import { ModelCache } from './model-cache.js';
import type { ServingModel } from './model-engine.js';

function servingModel(version: string, disposed: string[]): ServingModel {
  return {
    version,
    predict: () => Promise.reject(new Error('not used')),
    dispose: () => disposed.push(version),
  };
}

const pointer = (version: string) => ({ version, storagePrefix: `models/${version}/` });

describe('the cache of tried models', () => {
  it('loads each version once, keeps the most recently used, and disposes the evicted', async () => {
    const loads: string[] = [];
    const disposed: string[] = [];
    const cache = new ModelCache({
      load: async ({ version }) => {
        loads.push(version);
        return servingModel(version, disposed);
      },
      capacity: 2,
      disposeDelayMs: 0,
    });
    const [a, again] = await Promise.all([cache.model(pointer('a')), cache.model(pointer('a'))]);
    expect(a).toBe(again);
    await cache.model(pointer('b'));
    await cache.model(pointer('a')); // a is now the most recent
    await cache.model(pointer('c')); // evicts b
    expect(loads).toEqual(['a', 'b', 'c']);
    expect(cache.versions).toEqual(['a', 'c']);
    // Disposed on a timer (0 ms here): polled, the deadline only bounds a hang.
    await expect.poll(() => disposed, { timeout: HANG_BOUND_MS }).toEqual(['b']);
  });

  it('forgets a failed load so that the next request tries again', async () => {
    let fail = true;
    const cache = new ModelCache({
      load: async ({ version }) => {
        if (fail) throw new Error('fichiers absents');
        return servingModel(version, []);
      },
      capacity: 2,
      disposeDelayMs: 0,
    });
    await expect(cache.model(pointer('a'))).rejects.toThrow('fichiers absents');
    expect(cache.versions).toEqual([]);
    fail = false;
    await expect(cache.model(pointer('a'))).resolves.toMatchObject({ version: 'a' });
  });
});
