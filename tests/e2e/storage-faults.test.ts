/**
 * Storage hiccups against the real Storage emulator, through a proxy that drops connections
 * (tests/helpers/storage-fault-proxy.ts, seeded): what the SDK throws, that the trainer's
 * bucket retries every fault and logs it, that the functions' Storage client retries every
 * kind of request (a user's erasure included), and that a whole training run whose Storage
 * traffic goes through the proxy still succeeds.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initializeApp } from 'firebase-admin/app';
import { getStorage } from 'firebase-admin/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTransientError, observationPhotoPaths } from '@wildlens/shared';
import { retryEveryStorageRequest } from '../../functions/src/common/storage-retries.js';
import { launchTrainingRun } from '../../functions/src/handlers/admin/training.js';
import { deleteObservation } from '../../functions/src/handlers/observation-actions.js';
import { LocalProcessLauncher } from '../../functions/src/training/launcher.js';
import { REPO_ROOT } from '../../scripts/emulators/stack.js';
import { resilientBucket, trainerRetry } from '../../trainer/src/resilience.js';
import { HANG_BOUND_MS } from '../hang-bound.js';
import { StorageFaultProxy } from '../helpers/storage-fault-proxy.js';
import {
  BUCKET,
  PROJECT_ID,
  adminBucket,
  adminDb,
  closeAdmin,
  ingestionRecord,
} from './support.js';
import { runFinished, syntheticSubset } from './training-support.js';

const STORAGE_HOST = process.env.FIREBASE_STORAGE_EMULATOR_HOST as string;
const proxies: StorageFaultProxy[] = [];
let logDir: string;

beforeAll(() => {
  logDir = mkdtempSync(path.join(os.tmpdir(), 'wildlens-storage-faults-'));
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await closeAdmin();
  rmSync(logDir, { recursive: true, force: true });
});

async function proxy(
  options: Omit<ConstructorParameters<typeof StorageFaultProxy>[0], 'upstream'>,
) {
  const p = new StorageFaultProxy({ upstream: STORAGE_HOST, ...options });
  proxies.push(p);
  return { proxy: p, host: await p.listen() };
}

/** An Admin SDK bucket whose requests go to `host` (the SDK reads the variable when created). */
function bucketThrough(host: string, sdkRetries: boolean) {
  const saved = process.env.STORAGE_EMULATOR_HOST;
  process.env.STORAGE_EMULATOR_HOST = `http://${host}`;
  try {
    const app = initializeApp({ projectId: PROJECT_ID, storageBucket: BUCKET }, randomUUID());
    const bucket = getStorage(app).bucket();
    bucket.storage.retryOptions.autoRetry = sdkRetries;
    return bucket;
  } finally {
    process.env.STORAGE_EMULATOR_HOST = saved;
  }
}

/** The trainer bucket's attempt deadline in the test of truncated downloads (20 s). */
const TRUNCATED_ATTEMPT_MS = 20_000;

describe('a dropped Storage connection', () => {
  it('is a FetchError "socket hang up" that the policy calls transient; the SDK does not retry writes', async () => {
    const { proxy: p, host } = await proxy({ seed: 1, rate: 1, faults: ['hang-up'] });
    // The SDK's defaults (retries on): a write without preconditions is never retried.
    const err: unknown = await bucketThrough(host, true)
      .file('faults/one.bin')
      .save(Buffer.from('x'), { resumable: false })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(p.stats.hangUps).toBe(1);
    expect(err).toMatchObject({ name: 'FetchError', code: 'ECONNRESET' });
    expect((err as Error).message).toMatch(/socket hang up/);
    expect(isTransientError(err)).toBe(true);
    expect((await adminBucket().file('faults/one.bin').exists())[0]).toBe(false);
  });

  it('costs the trainer’s bucket one logged retry per fault, truncated downloads included', async () => {
    const { proxy: p, host } = await proxy({ seed: 7, rate: 1 });
    const retries: Record<string, unknown>[] = [];
    const bucket = resilientBucket(
      bucketThrough(host, false),
      trainerRetry((event, data) => (event === 'trainer.retry' ? retries.push(data ?? {}) : 0), {
        attempts: 3,
        baseDelayMs: 10,
      }),
      // A truncated answer never settles: each attempt is abandoned after this. A served
      // request takes milliseconds; this only has to outlast a stall of a busy machine, and the
      // downloads run at once below, so the test waits it out once, not once per truncation.
      TRUNCATED_ATTEMPT_MS,
    );
    const names = ['faults/a.bin', 'faults/b.bin', 'faults/c.bin', 'faults/d.bin'];
    const payload = (name: string) => Buffer.alloc(64 * 1024, name);
    for (const name of names)
      await bucket.file(name).save(payload(name), { contentType: 'application/octet-stream' });
    const downloads = await Promise.all(names.map((name) => bucket.file(name).download()));
    downloads.forEach(([data], i) => expect(data.equals(payload(names[i]!))).toBe(true));
    // Every request failed once (rate 1): 4 writes hung up, 4 downloads hung up or truncated.
    expect(p.stats.hangUps).toBeGreaterThanOrEqual(4);
    expect(p.stats.truncated).toBeGreaterThanOrEqual(1);
    expect(p.faults).toBe(8);
    expect(retries).toHaveLength(8);
    expect(retries.map((r) => String(r.operation).split(' ')[0]).sort()).toEqual([
      ...Array<string>(4).fill('storage.download'),
      ...Array<string>(4).fill('storage.save'),
    ]);
  });
});

describe('the functions’ Storage client', () => {
  it('retries a dropped connection on every kind of request, writes and deletes included', async () => {
    const { proxy: p, host } = await proxy({ seed: 3, rate: 1, faults: ['hang-up'] });
    const bucket = retryEveryStorageRequest(bucketThrough(host, true));
    const name = `faults/functions-${randomUUID()}.bin`;
    const data = Buffer.from('empreinte');
    // Each distinct request is dropped once (rate 1): every one below needs its retry.
    await bucket.file(name).save(data, { resumable: false, contentType: 'image/jpeg' });
    const [downloaded] = await bucket.file(name).download();
    expect(downloaded.equals(data)).toBe(true);
    const [listed] = await bucket.getFiles({ prefix: name });
    expect(listed.map((f) => f.name)).toEqual([name]);
    await bucket.file(name).copy(bucket.file(`${name}.copie`));
    await bucket.file(name).delete();
    await bucket.file(`${name}.copie`).delete();
    expect(p.stats.hangUps).toBe(6);
    expect((await adminBucket().file(name).exists())[0]).toBe(false);
    expect((await adminBucket().file(`${name}.copie`).exists())[0]).toBe(false);
  });

  it('lets a hiker delete an observation while connections drop: every object and the record go', async () => {
    const { proxy: p, host } = await proxy({ seed: 4, rate: 1, faults: ['hang-up'] });
    const uid = `faults-${randomUUID()}`;
    const observationId = `obs-${randomUUID()}`;
    const paths = observationPhotoPaths(uid, observationId);
    for (const name of [paths.photo, paths.thumbnail])
      await adminBucket().file(name).save(Buffer.from(name), { resumable: false });
    const record = adminDb().doc(`users/${uid}/observations/${observationId}`);
    await record.set({ verdict: 'identified', speciesId: 'renard', shareForTraining: false });

    const result = await deleteObservation(
      uid,
      { observationId },
      {
        db: adminDb(),
        bucket: retryEveryStorageRequest(bucketThrough(host, true)),
        now: () => new Date(),
      },
    );
    expect(result).toEqual({ observationId, deleted: true });
    expect(p.stats.hangUps).toBeGreaterThanOrEqual(2);
    for (const name of [paths.photo, paths.thumbnail])
      expect((await adminBucket().file(name).exists())[0]).toBe(false);
    expect((await record.get()).exists).toBe(false);
  });
});

/** The trainer's JSON log lines of a run (task 0). */
function trainerEvents(runId: string): { message: string; [k: string]: unknown }[] {
  return readFileSync(path.join(logDir, `${runId}.log`), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { message: string });
}

/** A run launched as the Functions emulator launches one, its Storage traffic to `storageHost`. */
async function launchRun(storageHost: string, crashAt?: string): Promise<string> {
  const launcher = new LocalProcessLauncher({
    repoRoot: REPO_ROOT,
    env: {
      ...process.env,
      GCLOUD_PROJECT: PROJECT_ID,
      WILDLENS_STORAGE_BUCKET: BUCKET,
      FIREBASE_STORAGE_EMULATOR_HOST: storageHost,
      STORAGE_EMULATOR_HOST: `http://${storageHost}`,
    },
    backbone: 'auto',
    logDir,
  });
  const { runId } = await launchTrainingRun(
    { requestedBy: null, trigger: 'admin', crashAt },
    {
      db: adminDb(),
      launcher,
      now: () => new Date(),
      staleness: { heartbeatTimeoutMs: 600_000, queuedTimeoutMs: 600_000 },
      allowDebug: true,
    },
  );
  return runId;
}

/** Two training runs: twice a test's hang bound. */
const TWO_RUNS = 2 * HANG_BOUND_MS;

describe('a training run under Storage faults', () => {
  it(
    'redoes a run that crashed mid-embedding from its cache, while the proxy drops a share of its Storage requests',
    async () => {
      const species = ['castor', 'loup', 'renard'];
      const photos = await syntheticSubset(species, 6);
      for (const photo of photos) {
        const name = `incoming/${photo.speciesId}/faults/${photo.name}`;
        await adminBucket().file(name).save(photo.data, { resumable: false });
        expect((await ingestionRecord(name)).status).toBe('accepted');
      }
      // A first run dies after 5 photos (straight to the emulator)…
      const crashedId = await launchRun(STORAGE_HOST, 'embedding:5');
      const crashed = await runFinished(crashedId);
      expect(crashed.status).toBe('failed');
      expect(String(crashed.error)).toMatch(/arrêt simulé après 5 photos/);

      // …the next one talks to Storage through the proxy, which breaks a fifth of its requests.
      const { proxy: p, host } = await proxy({ seed: 2026, rate: 0.2, faults: ['hang-up'] });
      const runId = await launchRun(host);
      const run = await runFinished(runId);
      const events = trainerEvents(runId);
      expect(run.status, JSON.stringify(events.slice(-5))).toBe('succeeded');
      expect(run.promoted).toBe(true);
      // It found the bases and the 5 photos (2 views each) its predecessor saved.
      const featurizer = (id: string) =>
        trainerEvents(id).find((e) => e.message === 'trainer.features')?.featurizer;
      expect(featurizer(runId)).toBe(featurizer(crashedId));
      expect((run.embedding as { cachedViews: number }).cachedViews).toBeGreaterThanOrEqual(10);
      // Faults were really injected, and each cost a logged retry, not the run.
      expect(p.stats.hangUps).toBeGreaterThan(0);
      const storageRetries = events.filter(
        (e) => e.message === 'trainer.retry' && String(e.operation).startsWith('storage.'),
      );
      expect(storageRetries.length).toBeGreaterThanOrEqual(p.stats.hangUps);
    },
    TWO_RUNS,
  );
});
