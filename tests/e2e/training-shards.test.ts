/**
 * Sharded embedding extraction, as a Cloud Run job with several tasks would run it: three
 * local trainer processes (CLOUD_RUN_TASK_INDEX 0..2 of 3) share one run; each embeds its
 * shard, and the task completing the last shard trains the head and publishes the model.
 */
import { httpsCallable } from 'firebase/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CALL_OPTIONS,
  adminBucket,
  adminDb,
  closeAdmin,
  signedInClient,
  type Client,
} from './support.js';
import {
  devSubset,
  runFinished,
  syntheticSubset,
  uploadRecord,
  uploadThroughUrls,
  type LocalPhoto,
} from './training-support.js';

afterAll(closeAdmin);

const SPECIES = ['chat', 'loup', 'rat'];
let admin: Client;
let photos: LocalPhoto[];

beforeAll(async () => {
  admin = await signedInClient({ admin: true });
  photos = devSubset(SPECIES, 5) ?? (await syntheticSubset(SPECIES, 5));
});

describe('sharded training run', () => {
  it('three task processes split the embeddings and one of them trains the model', async () => {
    for (const speciesId of SPECIES) {
      const files = photos.filter((p) => p.speciesId === speciesId);
      const { uploads } = await uploadThroughUrls(admin, speciesId, files);
      for (const u of uploads) expect((await uploadRecord(u.uploadId)).status).toBe('accepted');
    }
    const start = httpsCallable<unknown, { runId: string }>(
      admin.functions,
      'startTrainingRun',
      CALL_OPTIONS,
    );
    const { runId } = (await start({ simulateTasks: 3 })).data;
    const run = await runFinished(runId);
    expect(run).toMatchObject({ status: 'succeeded', phase: 'done' });
    expect(run.shards).toMatchObject({ count: 3, done: [0, 1, 2] });
    expect([0, 1, 2]).toContain((run.shards as { coordinator: number }).coordinator);
    const model = await adminDb()
      .doc(`models/${String(run.modelVersion)}`)
      .get();
    expect(model.exists).toBe(true);
    expect(model.get('datasetCounts')).toMatchObject({ chat: 5, loup: 5, rat: 5 });
    // Each task's count, summed: 15 photos, 3 of them in the benchmark, each counted once.
    expect(run.progress).toMatchObject({ done: 15, total: 15 });
    expect(Object.values((run.progress as { byTask: Record<string, number> }).byTask)).toHaveLength(
      3,
    );
    // The tasks shared the bases fit (each sample photo's maps, each basis) through Storage:
    // the fitted bases stay (a restarted run reads them back), what the fit shared is gone.
    const [shared] = await adminBucket().getFiles({ prefix: 'embeddings/' });
    const names = shared.map((f) => f.name);
    expect(
      names.filter((n) => /^embeddings\/bases\/[0-9a-f]+\.bin$/.test(n)).length,
    ).toBeGreaterThan(0);
    expect(names.filter((n) => n.startsWith('embeddings/fit-maps/'))).toEqual([]);
    expect(names.filter((n) => /^embeddings\/bases\/[^/]+\//.test(n))).toEqual([]);
    // Three trainer processes on a busy 2-core machine: minutes, not the default 2.
  });
});
