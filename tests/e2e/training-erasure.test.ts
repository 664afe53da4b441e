/**
 * A hiker's erasure during a training run (issue 20, findings 5 and 6), against the Emulator
 * Suite: the trainer runs in this process (runTrainer, the npm-shipped backbone) so that it can
 * be paused at a hook, the erasure runs in between (consent withdrawn, account deleted), then
 * the run goes on. It must finish without the photo, say so (`skippedErased`), and leave no
 * embedding of it in the cache; the data-protection invariants are checked after each run.
 */
import { randomUUID } from 'node:crypto';
import { observationIncomingPath } from '@wildlens/shared';
import { DEFAULT_BACKBONE_ID, initBackend } from '@wildlens/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eraseAccount } from '../../functions/src/handlers/erasure.js';
import { setObservationShare } from '../../functions/src/handlers/observation-actions.js';
import { acceptReviewCandidate, candidateIdFor } from '../../functions/src/handlers/review.js';
import { isBenchmarkGroup } from '../../trainer/src/benchmark.js';
import { resilientBucket, trainerRetry } from '../../trainer/src/resilience.js';
import { runTrainer, type TrainerHooks } from '../../trainer/src/run.js';
import { barrier } from '../helpers/barrier.js';
import { erasureDeps, identifyAs, objectsUnder, texturedPhoto, violations } from './in-process.js';
import { adminBucket, adminDb, closeAdmin, ingestionRecord, signedInClient } from './support.js';

afterAll(closeAdmin);

let adminUid: string;
let photoSeed = 1000;

/**
 * The training image the deployed ingestion trigger records for `objectName` (only the trigger
 * ingests here: an in-process ingestion racing it would write the same objects twice on a
 * loaded machine).
 */
async function ingested(objectName: string): Promise<string> {
  const record = await ingestionRecord(objectName);
  if (typeof record.trainingImageId !== 'string')
    throw new Error(`ingestion of ${objectName}: ${JSON.stringify(record)}`);
  return record.trainingImageId;
}

/** An admin's upload of a new photo under `speciesId`: its training image's id. */
async function uploadTrainingImage(speciesId: string): Promise<string> {
  const name = `incoming/${speciesId}/lot/${randomUUID()}.jpg`;
  await adminBucket()
    .file(name)
    .save(await texturedPhoto(++photoSeed), { resumable: false, contentType: 'image/jpeg' });
  return ingested(name);
}

/** Whether a training image falls outside the frozen benchmark (it is then embedded and trained on). */
async function trainedOn(imageId: string): Promise<boolean> {
  const record = await adminDb().doc(`trainingImages/${imageId}`).get();
  return !isBenchmarkGroup((record.get('group') as string | undefined) || imageId);
}

/** Admin uploads until `species` has `count` images outside the benchmark. */
async function uploadSpecies(speciesId: string, count: number): Promise<void> {
  let trained = 0;
  while (trained < count) {
    if (await trainedOn(await uploadTrainingImage(speciesId))) trained++;
  }
}

/** A hiker's shared observation accepted as a lynx and ingested, outside the benchmark. */
async function hikersTrainingImage(uid: string) {
  for (;;) {
    const { observationId } = await identifyAs(uid, await texturedPhoto(++photoSeed));
    const candidateId = candidateIdFor(uid, observationId);
    await acceptReviewCandidate(
      adminUid,
      { candidateId, speciesId: 'lynx' },
      { db: adminDb(), bucket: adminBucket(), now: () => new Date() },
    );
    const imageId = await ingested(observationIncomingPath('lynx', candidateId));
    const record = await adminDb().doc(`trainingImages/${imageId}`).get();
    if (await trainedOn(imageId))
      return { observationId, imageId, storedSha256: record.get('storedSha256') as string };
    // In the benchmark: this photo would not be embedded; withdraw it and take another.
    await setObservationShare(uid, { observationId, shareForTraining: false }, erasureDeps());
  }
}

/** A queued run trained in this process with `hooks`, as the trainer job would. */
async function train(hooks: TrainerHooks) {
  const runId = `effacement-${randomUUID().slice(0, 8)}`;
  await adminDb().doc(`trainingRuns/${runId}`).set({ status: 'queued', createdAt: new Date() });
  const log = () => undefined;
  const retry = trainerRetry(log);
  const outcome = await runTrainer({
    db: adminDb(),
    bucket: resilientBucket(adminBucket(), retry),
    runId,
    taskIndex: 0,
    taskCount: 1,
    options: { backboneId: DEFAULT_BACKBONE_ID, calibrationFolds: 0, seed: 1 },
    now: () => new Date(),
    log,
    retry,
    hooks,
  });
  return { outcome, run: (await adminDb().doc(`trainingRuns/${runId}`).get()).data() ?? {} };
}

/** A hook that pauses once, at the first call with `key`. */
function pauseAt(key: string) {
  const gate = barrier();
  let paused = false;
  return {
    gate,
    hook: async (at: string) => {
      if (at !== key || paused) return;
      paused = true;
      await gate.wait();
    },
  };
}

const cachedEmbeddingsOf = async (sha: string) =>
  (await objectsUnder('embeddings/')).filter((name) => name.endsWith(`/${sha}.bin`));

beforeAll(async () => {
  await initBackend();
  adminUid = (await signedInClient({ admin: true })).uid;
  await uploadSpecies('renard', 3);
  await uploadSpecies('loup', 3);
});

/** A safety net, not a speed target: the trainer embeds and trains on two busy cores. */

describe('a hiker’s erasure during a training run (issue 20, findings 5 and 6)', () => {
  it('consent withdrawn before the run downloads the photo: the run skips it and finishes', async () => {
    const hiker = await signedInClient();
    const { observationId, imageId, storedSha256 } = await hikersTrainingImage(hiker.uid);
    const { gate, hook } = pauseAt(imageId);
    const training = train({ beforePhotoDownload: hook });
    await gate.reached;
    try {
      await setObservationShare(
        hiker.uid,
        { observationId, shareForTraining: false },
        erasureDeps(),
      );
      expect((await adminDb().doc(`trainingImages/${imageId}`).get()).exists).toBe(false);
    } finally {
      gate.release();
    }
    const { outcome, run } = await training;
    expect(outcome).toMatchObject({ kind: 'trained' });
    expect(run).toMatchObject({ status: 'succeeded', skippedErased: 1 });
    expect(await cachedEmbeddingsOf(storedSha256)).toEqual([]);
    expect(await violations()).toEqual([]);
  });

  it('account deleted while the run embeds the photo: its embedding is deleted again, the run finishes', async () => {
    const hiker = await signedInClient();
    const { imageId, storedSha256 } = await hikersTrainingImage(hiker.uid);
    // Paused once the photo is downloaded and embedded, before its embedding is cached.
    const { gate, hook } = pauseAt(storedSha256);
    const training = train({ beforeEmbeddingWrite: hook });
    await gate.reached;
    try {
      await eraseAccount(hiker.uid, erasureDeps());
      expect((await adminDb().doc(`trainingImages/${imageId}`).get()).exists).toBe(false);
      expect(await cachedEmbeddingsOf(storedSha256)).toEqual([]);
    } finally {
      gate.release();
    }
    const { outcome, run } = await training;
    expect(outcome).toMatchObject({ kind: 'trained' });
    expect(run).toMatchObject({ status: 'succeeded', skippedErased: 1 });
    expect(await cachedEmbeddingsOf(storedSha256)).toEqual([]);
    expect(await violations([hiker.uid])).toEqual([]);
  });
});
