/**
 * Fault test: the Firestore emulator dies (SIGKILL of its JVM) under a running suite, then
 * comes back empty (it keeps everything in memory) on the same port.
 *
 * - while it is down, identifyFootprint ends with a clear `unavailable` error (French message),
 *   within the function's timeout, and leaves no photo behind in Storage;
 * - once it is restarted (same command line, cwd and environment as the one firebase-tools
 *   started, so official and offline stacks alike) and re-seeded, identification and the Storage
 *   ingestion trigger work again without restarting the functions.
 *
 * firebase-tools only logs a warning when an emulator dies by a signal, so the suite keeps
 * running; afterAll makes sure Firestore is up again for the test files that follow.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { doc, getDoc, setDoc } from 'firebase/firestore';
import { httpsCallable, type FunctionsError } from 'firebase/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HealthReport } from '../../functions/src/handlers/health.js';
import type { IdentifyResponse } from '../../functions/src/handlers/identify.js';
import { seedSpeciesCatalog } from '../../scripts/seed/species.js';
import { STEP_HANG_BOUND_MS } from '../hang-bound.js';
import {
  captureProcess,
  killHard,
  listeningPid,
  portAnswers,
  respawn,
  type ProcessSpec,
} from './emulator-process.js';
import {
  footprintPhotos,
  installFixtureModel,
  syntheticFootprint,
  trainFixtureModel,
  type FixtureModel,
} from './model-fixture.js';
import {
  FUNCTIONS_ORIGIN,
  adminBucket,
  adminDb,
  client,
  closeAdmin,
  eventually,
  expectAcceptedTrainingImage,
  signedInClient,
  type Client,
  ingestionRecord,
} from './support.js';

const log = (m: string) => console.log(`[firestore-restart e2e] ${m}`);
const [FIRESTORE_HOST = '127.0.0.1', FIRESTORE_PORT_TEXT = ''] = (
  process.env.FIRESTORE_EMULATOR_HOST ?? ''
).split(':');
const FIRESTORE_PORT = Number(FIRESTORE_PORT_TEXT);

/** Far longer than the function's own 60 s timeout: the function must answer first. */
const CALL_TIMEOUT_MS = STEP_HANG_BOUND_MS;
const identifyWith = (c: Client) =>
  httpsCallable<Record<string, unknown>, IdentifyResponse>(c.functions, 'identifyFootprint', {
    timeout: CALL_TIMEOUT_MS,
  });
const b64 = (buf: Buffer) => buf.toString('base64');

/** A real footprint photo (one species per index) when ../shared is present, else synthetic. */
async function samplePhoto(index = 0): Promise<Buffer> {
  const photo = (await footprintPhotos(1))[index];
  return photo ? readFile(photo.file) : syntheticFootprint(index % 3, index);
}

/** Uploads under incoming/renard/{batch}/ and waits for the trigger's uploads/{id} record. */
async function ingest(batch: string, data: Buffer) {
  const hash = createHash('sha256').update(data).digest('hex');
  const name = `incoming/renard/${batch}/${hash.slice(0, 10)}.jpg`;
  const started = Date.now();
  await adminBucket().file(name).save(data, { resumable: false });
  const record = await ingestionRecord(name);
  return { hash, record, ms: Date.now() - started };
}

/** Storage objects under a user's observation photos (users/{uid}/observations/…). */
async function observationObjects(uid: string): Promise<string[]> {
  const [files] = await adminBucket().getFiles({ prefix: `users/${uid}/observations/` });
  return files.map((f) => f.name);
}

async function firestoreAnswers(): Promise<boolean> {
  try {
    const res = await fetch(`http://${FIRESTORE_HOST}:${FIRESTORE_PORT}/`, {
      signal: AbortSignal.timeout(STEP_HANG_BOUND_MS),
    });
    return res.ok;
  } catch {
    return false;
  }
}

let spec: ProcessSpec | undefined;
let fixture: FixtureModel;

/** Restarts the Firestore JVM when nothing listens on its port; returns the time it took. */
async function ensureFirestoreUp(): Promise<number | null> {
  if (listeningPid(FIRESTORE_PORT) !== undefined) return null;
  if (!spec) throw new Error('Firestore emulator down and its command line unknown');
  const started = Date.now();
  const logFile = path.join(os.tmpdir(), `firestore-restarted-${FIRESTORE_PORT}.log`);
  const pid = respawn(spec, logFile);
  log(`JVM relancée (pid ${pid}, journal ${logFile})`);
  await eventually(async () => ((await firestoreAnswers()) ? true : undefined), {
    intervalMs: 200,
    what: `Firestore emulator back on port ${FIRESTORE_PORT}`,
  });
  // The test process' own Admin SDK: a fresh app, i.e. fresh gRPC channels.
  await closeAdmin();
  return Date.now() - started;
}

/** What every test file expects (species catalogue) and this one needs (active model). */
async function seed(): Promise<void> {
  await seedSpeciesCatalog(adminDb());
  await installFixtureModel(adminBucket(), adminDb(), fixture);
}

beforeAll(async () => {
  expect(FIRESTORE_PORT, 'FIRESTORE_EMULATOR_HOST').toBeGreaterThan(0);
  const pid = listeningPid(FIRESTORE_PORT);
  if (pid === undefined) throw new Error(`nothing listens on Firestore port ${FIRESTORE_PORT}`);
  spec = captureProcess(pid);
  log(`Firestore : pid ${pid}, ${spec.argv.join(' ')}`);
  fixture = await trainFixtureModel({ log });
  await seed();
});

afterAll(async () => {
  try {
    const restarted = await ensureFirestoreUp();
    if (restarted !== null) {
      log(`afterAll : Firestore relancé après un échec (${restarted} ms)`);
      await seedSpeciesCatalog(adminDb());
    }
  } finally {
    await closeAdmin();
  }
});

describe('Firestore emulator killed and restarted under the running suite', () => {
  let hiker: Client & { uid: string };

  it('identifies a photo and ingests an upload before the outage (baseline)', async () => {
    hiker = await signedInClient();
    const { data } = await identifyWith(hiker)({ photo: b64(await samplePhoto()) });
    expect(data.model).toEqual({ version: fixture.version });
    const record = await adminDb()
      .doc(`users/${hiker.uid}/observations/${data.observationId}`)
      .get();
    expect(record.exists).toBe(true);
    // The ingestion instance now holds a Firestore connection that the outage will cut.
    const { hash, record: upload } = await ingest('avant-panne', await samplePhoto(1));
    expect(upload).toMatchObject({ status: 'accepted', trainingImageId: hash });
  });

  it(
    'while Firestore is down, identifyFootprint fails with unavailable and stores no photo',
    async () => {
      // Signed in before the outage (Auth is another emulator, still up).
      const unlucky = await signedInClient();
      const photo = b64(await samplePhoto());
      const pid = listeningPid(FIRESTORE_PORT);
      expect(pid).toBe(spec?.pid);
      await killHard(pid as number, FIRESTORE_PORT, undefined, FIRESTORE_HOST);
      expect(await portAnswers(FIRESTORE_HOST, FIRESTORE_PORT)).toBe(false);
      log(`JVM ${pid} tuée (SIGKILL)`);

      const started = Date.now();
      const [identifyOutcome, health] = await Promise.all([
        identifyWith(unlucky)({ photo }).then(
          (r) => ({ ok: true as const, data: r.data, ms: Date.now() - started }),
          (e: unknown) => ({
            ok: false as const,
            error: e as FunctionsError,
            ms: Date.now() - started,
          }),
        ),
        fetch(`${FUNCTIONS_ORIGIN}/health`).then(
          async (res) => ({
            status: res.status,
            body: (await res.json()) as HealthReport,
            ms: Date.now() - started,
          }),
          (e: unknown) => ({ status: 0, body: undefined, error: e, ms: Date.now() - started }),
        ),
      ]);
      log(
        `pendant la panne : identifyFootprint → ${
          identifyOutcome.ok
            ? 'succès ?!'
            : `${identifyOutcome.error.code} « ${identifyOutcome.error.message} »`
        } en ${identifyOutcome.ms} ms ; health → ${health.status} ${JSON.stringify(
          health.body?.firestore,
        )} en ${health.ms} ms`,
      );
      // Nothing restarted Firestore meanwhile: the whole call happened during the outage.
      expect(await portAnswers(FIRESTORE_HOST, FIRESTORE_PORT)).toBe(false);
      // The photo and thumbnail of the failed call were not left behind.
      expect(await observationObjects(unlucky.uid)).toEqual([]);
      expect(health.body?.firestore.reachable).toBe(false);

      expect(identifyOutcome.ok, 'identifyFootprint should fail while Firestore is down').toBe(
        false,
      );
      if (!identifyOutcome.ok) {
        // A clear, retryable error from the function itself, before its 60 s timeout: past it,
        // the emulator cuts the request as the platform does and the client only sees
        // `internal`. The code says which happened, whatever the machine's speed.
        expect(identifyOutcome.error.code, `answered after ${identifyOutcome.ms} ms`).toBe(
          'functions/unavailable',
        );
        expect(identifyOutcome.error.message).toMatch(/indisponible|réessayez/i);
        expect(identifyOutcome.error.message).toMatch(/[éèêàç]/);
      }
    },
    // The call's bound, plus the kill and the checks around it.
    CALL_TIMEOUT_MS + STEP_HANG_BOUND_MS,
  );

  it('after a restart and a re-seed, identification and health recover (functions not restarted)', async () => {
    const took = await ensureFirestoreUp();
    log(`Firestore relancé et joignable en ${took} ms`);
    expect(listeningPid(FIRESTORE_PORT)).not.toBe(spec?.pid);
    // It came back empty (in-memory emulator) and with firestore.rules loaded.
    expect((await adminDb().collection('species').limit(1).get()).size).toBe(0);
    await seed();
    const anon = client();
    expect((await getDoc(doc(anon.db, 'species', 'renard'))).get('nameFr')).toBe('Renard roux');
    await expect(setDoc(doc(anon.db, 'species', 'renard'), { nameFr: 'x' })).rejects.toMatchObject({
      code: 'permission-denied',
    });

    // A client retries `unavailable` (that is what the code tells it): the functions' own
    // Firestore connections may need a moment (gRPC reconnection backoff) to find the new JVM.
    const started = Date.now();
    const photo = b64(await samplePhoto());
    let attempts = 0;
    const data = await eventually(
      async () => {
        attempts++;
        try {
          return (await identifyWith(hiker)({ photo })).data;
        } catch (err) {
          if ((err as FunctionsError).code !== 'functions/unavailable') throw err;
          return undefined;
        }
      },
      { intervalMs: 1000, what: 'identifyFootprint after the restart' },
    );
    log(
      `identifyFootprint réussi ${Date.now() - started} ms après la relance (${attempts} appel(s))`,
    );
    expect(data.model).toEqual({ version: fixture.version });
    const record = await adminDb()
      .doc(`users/${hiker.uid}/observations/${data.observationId}`)
      .get();
    expect(record.get('photoPath')).toBe(
      `users/${hiker.uid}/observations/${data.observationId}/photo.jpg`,
    );
    expect((await fetch(data.photoUrl)).status).toBe(200);

    const healthStarted = Date.now();
    const health = await eventually(
      async () => {
        const report = (await (await fetch(`${FUNCTIONS_ORIGIN}/health`)).json()) as HealthReport;
        return report.firestore.reachable ? report : undefined;
      },
      { intervalMs: 1000, what: 'health reporting Firestore reachable' },
    );
    log(`health : Firestore joignable ${Date.now() - healthStarted} ms après la relance`);
    expect(health.firestore).toEqual({ reachable: true, speciesCount: 13 });
    expect(health.model.active).toBe(fixture.version);
  });

  it('after the restart, the Storage ingestion trigger records uploads again', async () => {
    const { hash, record, ms } = await ingest('apres-relance', await samplePhoto(2));
    log(`ingestion après la relance : ${ms} ms`);
    await expectAcceptedTrainingImage(record, hash, 'renard');
  });
});
