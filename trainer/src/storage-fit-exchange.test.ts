import type { KeptMaps, ProjectionBasis } from '@wildlens/model';
import { describe, expect, it } from 'vitest';
import type { TrainerBucket } from './resilience.js';
import { FIT_MAPS_PREFIX, StorageFitExchange } from './storage-embedding-cache.js';

/** A bucket in memory, with the trainer's semantics (a missing object: code 404). */
function memoryBucket(): TrainerBucket & { objects: Map<string, Buffer> } {
  const objects = new Map<string, Buffer>();
  return {
    objects,
    file: (name) => ({
      download: async () => {
        const bytes = objects.get(name);
        if (!bytes) throw Object.assign(new Error(`No such object: ${name}`), { code: 404 });
        return [bytes];
      },
      save: async (data) => {
        objects.set(name, Buffer.from(data));
      },
      delete: async () => {
        objects.delete(name);
      },
    }),
  };
}

const shape: [number, number, number, number] = [1, 1, 2, 2];
const maps = (v: number): KeptMaps =>
  new Map([['center', new Map([[0, { values: Float32Array.from([v, 2, 3, 4]), shape }]])]]);
const basis: ProjectionBasis = {
  channels: 2,
  dim: 1,
  mean: Float32Array.from([0.5, -0.5]),
  components: Float32Array.from([0.6, 0.8]),
};

describe('StorageFitExchange', () => {
  it('shares maps and bases between the tasks of a run, then the coordinator deletes them', async () => {
    const bucket = memoryBucket();
    const task0 = new StorageFitExchange(bucket, 0, 2, (sha) => sha === 'aa');
    const task1 = new StorageFitExchange(bucket, 1, 2, (sha) => sha === 'bb');
    const fit0 = task0.forFit('key1', 'backbone|recipe');
    const fit1 = task1.forFit('key1', 'backbone|recipe');
    expect(fit0.ownsPhoto('aa')).toBe(true);
    expect(fit1.ownsPhoto('aa')).toBe(false);
    expect(await fit1.getMaps('aa')).toBeUndefined();

    await fit0.putMaps('aa', maps(1));
    expect(bucket.objects.has(`${FIT_MAPS_PREFIX}aa.bin`)).toBe(true);
    const got = await fit1.getMaps('aa');
    expect([...(got?.get('center')?.get(0)?.values ?? [])]).toEqual([1, 2, 3, 4]);
    // Maps computed with another backbone or recipe are not these.
    expect(await task1.forFit('key1', 'other|recipe').getMaps('aa')).toBeUndefined();

    await fit1.putBasis('center/0', basis);
    expect(await task0.forFit('key2', 'backbone|recipe').getBasis('center/0')).toBeUndefined();
    const shared = await fit0.getBasis('center/0');
    expect(shared?.components).toEqual(basis.components);
    expect(task0.stats).toEqual({ mapsFound: 0, mapsShared: 1, basesFound: 1, basesShared: 0 });

    // A predecessor's maps of the sample go too, though this task never read them.
    await bucket.file(`${FIT_MAPS_PREFIX}cc.bin`).save(Buffer.from('x'), { contentType: '' });
    await bucket.file('embeddings/backbone/aa.bin').save(Buffer.from('row'), { contentType: '' });
    await task1.cleanUp(['aa', 'cc']);
    expect([...bucket.objects.keys()]).toEqual(['embeddings/backbone/aa.bin']);
  });

  it('deletes the maps of a photo erased while they were written', async () => {
    const bucket = memoryBucket();
    const task = new StorageFitExchange(bucket, 0, 2, () => true, {
      stillWanted: async (sha) => sha !== 'gone',
    });
    const fit = task.forFit('key', 'tag');
    await fit.putMaps('kept', maps(1));
    await fit.putMaps('gone', maps(2));
    expect([...bucket.objects.keys()]).toEqual([`${FIT_MAPS_PREFIX}kept.bin`]);
  });
});
