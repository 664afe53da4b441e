/**
 * syncOfflineObservations against the Emulator Suite (issue 22, item 5): a batch through the
 * deployed function is stored once whatever the retries (same batch again: `already_stored`,
 * one record each), its records are ordinary observations (history, getObservation, the
 * dialogue), a corrupt photo is refused alone, consent queues only the shared items, and the
 * account's erasure leaves nothing (the data-protection invariants).
 *
 * The races and the quota run the handler in this process against the emulators: a duplicate
 * call paused by a barrier after storing its photos while the other one commits, and a quota of
 * 3 a day at a fixed date (real tickets in the Firestore emulator) running out mid-batch.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { httpsCallable } from 'firebase/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ObservationDetail } from '../../functions/src/handlers/observation-actions.js';
import type { ObservationSummary } from '../../functions/src/handlers/observations.js';
import type { ObservationResponse } from '../../functions/src/handlers/dialogue.js';
import {
  syncOfflineObservations,
  syncedObservationId,
  type OfflineSyncDeps,
  type SyncItemOutcome,
  type SyncResponse,
} from '../../functions/src/handlers/offline-sync.js';
import { consumeIdentifyQuota } from '../../functions/src/handlers/rate-limit.js';
import { candidateIdFor } from '../../functions/src/handlers/review.js';
import { eraseAccount } from '../../functions/src/handlers/erasure.js';
import { barrier } from '../helpers/barrier.js';
import {
  erasureDeps,
  identifyDeps,
  objectsUnder,
  texturedPhoto,
  violations,
} from './in-process.js';
import {
  footprintPhotos,
  installFixtureModel,
  syntheticFootprint,
  trainFixtureModel,
} from './model-fixture.js';
import { adminBucket, adminDb, closeAdmin, signedInClient, type Client } from './support.js';
import { HANG_BOUND_MS } from '../hang-bound.js';

type Payload = Record<string, unknown>;
type Hiker = Client & { uid: string };

const b64 = (buf: Buffer) => buf.toString('base64');

function call<T>(user: Client, name: string, data: Payload): Promise<T> {
  return httpsCallable<Payload, T>(user.functions, name, { timeout: HANG_BOUND_MS })(data).then(
    (r) => r.data,
  );
}

/** An item as the app sends it: the photo, its date and place, the device's answer. */
function item(clientId: string, photo: Buffer, extra: Payload = {}): Payload {
  return {
    clientId,
    photo: b64(photo),
    takenAt: '2026-04-30T08:00:00Z',
    location: { lat: 45.19, lng: 5.72, accuracyM: 15 },
    onDevice: {
      bundleVersion: 'paquet-2026',
      verdict: 'uncertain',
      top: [
        { speciesId: 'renard', probability: 0.42 },
        { speciesId: 'chien', probability: 0.21 },
        { speciesId: 'loup', probability: 0.12 },
      ],
      domain: 'field',
      oodScore: 0.66,
      identifiedAt: '2026-04-30T08:00:04Z',
    },
    ...extra,
  };
}

const statuses = (res: SyncResponse) =>
  res.items.map((i) => (i.status === 'refused' ? `refused:${i.reason}` : i.status));
const observationIdOf = (outcome: SyncItemOutcome | undefined) =>
  outcome && outcome.status !== 'refused' ? outcome.observation.observationId : null;
const recordsOf = async (uid: string) =>
  (await adminDb().collection(`users/${uid}/observations`).get()).docs;

let photos: Buffer[];

beforeAll(async () => {
  const fixture = await trainFixtureModel({ log: (m) => console.log(`[offline-sync e2e] ${m}`) });
  await installFixtureModel(adminBucket(), adminDb(), fixture);
  const real = await footprintPhotos(1, 6);
  photos = real.length
    ? await Promise.all(real.slice(0, 4).map((p) => readFile(p.file)))
    : await Promise.all([0, 1, 2, 3].map((k) => syntheticFootprint(k, 9)));
});

afterAll(closeAdmin);

describe('syncOfflineObservations through the deployed function', () => {
  let hiker: Hiker;

  beforeAll(async () => {
    hiker = await signedInClient();
  });

  it('stores a batch once: the same batch again is already there, one record each', async () => {
    const batch = {
      observations: [item('sortie-1', photos[0] as Buffer), item('sortie-2', photos[1] as Buffer)],
    };
    const first = await call<SyncResponse>(hiker, 'syncOfflineObservations', batch);
    expect(statuses(first)).toEqual(['stored', 'stored']);
    const again = await call<SyncResponse>(hiker, 'syncOfflineObservations', batch);
    expect(statuses(again)).toEqual(['already_stored', 'already_stored']);
    expect(again.items.map(observationIdOf)).toEqual(first.items.map(observationIdOf));
    expect(again.items.map(observationIdOf)).toEqual([
      syncedObservationId(hiker.uid, 'sortie-1'),
      syncedObservationId(hiker.uid, 'sortie-2'),
    ]);
    expect(await recordsOf(hiker.uid)).toHaveLength(2);
    // Two photos and two thumbnails, one per observation: the retry stored nothing.
    expect(await objectsUnder(`users/${hiker.uid}/`)).toHaveLength(4);
    // Only the stored items spent quota.
    const tickets = await adminDb().collection(`rateLimits/${hiker.uid}/tickets`).count().get();
    expect(tickets.data().count).toBe(2);
    expect(await violations()).toEqual([]);
  });

  it('a synced observation is an ordinary one: history, getObservation with both answers, the dialogue', async () => {
    const id = syncedObservationId(hiker.uid, 'sortie-1');
    const history = await call<{ items: ObservationSummary[] }>(hiker, 'listObservations', {});
    expect(history.items.map((i) => i.observationId)).toContain(id);
    const detail = await call<ObservationDetail>(hiker, 'getObservation', { observationId: id });
    expect(detail).toMatchObject({
      observationId: id,
      takenAt: '2026-04-30T08:00:00.000Z',
      location: { lat: 45.19, lng: 5.72, accuracyM: 15 },
      zone: { id: 'europe', label: 'Europe' },
      offline: {
        clientId: 'sortie-1',
        bundleVersion: 'paquet-2026',
        verdict: 'uncertain',
        identifiedAt: '2026-04-30T08:00:04.000Z',
      },
    });
    // The server's own answer, from the active model.
    expect(detail.model?.version).toBeTruthy();
    expect(detail.top.length).toBeGreaterThan(0);
    const refined = await call<ObservationResponse>(hiker, 'refineObservation', {
      observationId: id,
      answers: { toes: '4' },
    });
    expect(refined.answers).toEqual({ toes: '4' });
    const added = await call<ObservationResponse>(hiker, 'addObservationPhoto', {
      observationId: id,
      photo: b64(photos[2] as Buffer),
    });
    expect(added.photos).toHaveLength(2);
    expect(await violations()).toEqual([]);
  });

  it('refuses a corrupt photo alone, in French; the good ones around it are stored', async () => {
    const corrupt = (photos[3] as Buffer).subarray(0, 2_000);
    const res = await call<SyncResponse>(hiker, 'syncOfflineObservations', {
      observations: [
        item('lot-a', photos[2] as Buffer),
        item('lot-b', corrupt),
        item('lot-c', photos[3] as Buffer),
        { clientId: 'lot-d', photo: b64(photos[0] as Buffer) },
      ],
    });
    expect(statuses(res)).toEqual(['stored', 'refused:photo', 'stored', 'refused:invalid']);
    expect(res.items[1]).toMatchObject({ clientId: 'lot-b', photoReason: 'corrupt' });
    expect(res).toMatchObject({ stored: 2, alreadyStored: 0, refused: 2 });
    expect(
      (
        await adminDb()
          .doc(`users/${hiker.uid}/observations/${syncedObservationId(hiker.uid, 'lot-b')}`)
          .get()
      ).exists,
    ).toBe(false);
    expect(await violations()).toEqual([]);
  });

  it('respects consent: only the shared item joins the review queue', async () => {
    const sharer = await signedInClient();
    await call<SyncResponse>(sharer, 'syncOfflineObservations', {
      observations: [
        item('partage', photos[0] as Buffer, { shareForTraining: true }),
        item('prive', photos[1] as Buffer),
      ],
    });
    const shared = syncedObservationId(sharer.uid, 'partage');
    const kept = syncedObservationId(sharer.uid, 'prive');
    const candidate = await adminDb()
      .doc(`reviewCandidates/${candidateIdFor(sharer.uid, shared)}`)
      .get();
    expect(candidate.get('status')).toBe('pending');
    expect(
      (
        await adminDb()
          .doc(`reviewCandidates/${candidateIdFor(sharer.uid, kept)}`)
          .get()
      ).exists,
    ).toBe(false);
    const record = await adminDb().doc(`users/${sharer.uid}/observations/${shared}`).get();
    expect(record.get('shareForTraining')).toBe(true);
    expect(await violations()).toEqual([]);
  });
});

describe('syncOfflineObservations races and quota (handler in this process)', () => {
  /** The handler with the stand-in model and `consumeBudget` (unlimited unless given). */
  const deps = (extra: Partial<OfflineSyncDeps> = {}): OfflineSyncDeps => ({
    ...identifyDeps(),
    consumeBudget: async () => ({ refund: async () => undefined }),
    ...extra,
  });

  it('a concurrent duplicate: the paused call finds the record, deletes its photos, stores nothing twice', async () => {
    const uid = `sync-race-${randomUUID()}`;
    const caller = { uid, anonymous: false };
    const photo = await texturedPhoto(3);
    const batch = { observations: [item('double', photo, { shareForTraining: true })] };
    const paused = barrier();
    const refunds: number[] = [];
    // Call A stores its photos, then waits; call B runs whole meanwhile.
    const callA = syncOfflineObservations(
      caller,
      batch,
      deps({
        beforeRecord: paused.wait,
        consumeBudget: async () => ({ refund: async () => void refunds.push(1) }),
      }),
    );
    await paused.reached;
    let callB: SyncResponse;
    try {
      expect(await objectsUnder(`users/${uid}/`)).toHaveLength(2);
      callB = await syncOfflineObservations(caller, batch, deps());
    } finally {
      paused.release();
    }
    const resultA = await callA;
    expect(statuses(callB)).toEqual(['stored']);
    expect(statuses(resultA)).toEqual(['already_stored']);
    expect(observationIdOf(resultA.items[0])).toBe(observationIdOf(callB.items[0]));
    // A's identification was not needed: given back.
    expect(refunds).toEqual([1]);
    expect(await recordsOf(uid)).toHaveLength(1);
    expect(await objectsUnder(`users/${uid}/`)).toHaveLength(2);
    expect(
      (await adminDb().collection('reviewCandidates').where('ownerUid', '==', uid).get()).size,
    ).toBe(1);
    expect(await violations()).toEqual([]);
  });

  it('the quota running out mid-batch: the earlier items kept, that one and the rest refused', async () => {
    const uid = `sync-quota-${randomUUID()}`;
    const caller = { uid, anonymous: false };
    const now = new Date('2026-11-26T10:00:05Z');
    const limits = { perMinute: 30, perDay: 3 };
    const photo = await texturedPhoto(4);
    const res = await syncOfflineObservations(
      caller,
      { observations: ['q1', 'q2', 'q3', 'q4', 'q5'].map((id) => item(id, photo)) },
      deps({ consumeBudget: (c) => consumeIdentifyQuota(adminDb(), c.uid, now, limits) }),
    );
    expect(statuses(res)).toEqual(['stored', 'stored', 'stored', 'refused:quota', 'refused:quota']);
    expect(res.items[3]).toMatchObject({
      message: expect.stringMatching(/^Limite quotidienne atteinte \(3 identifications\)/),
      retryAfterSeconds: expect.any(Number),
    });
    expect(await recordsOf(uid)).toHaveLength(3);
    expect((await adminDb().collection(`rateLimits/${uid}/tickets`).get()).size).toBe(3);
    expect(await violations()).toEqual([]);
  });

  it('after the account’s erasure nothing synced is left, and a later sync is refused', async () => {
    const uid = `sync-erased-${randomUUID()}`;
    const caller = { uid, anonymous: false };
    const photo = await texturedPhoto(5);
    const batch = {
      observations: [item('e1', photo, { shareForTraining: true }), item('e2', photo)],
    };
    expect(statuses(await syncOfflineObservations(caller, batch, deps()))).toEqual([
      'stored',
      'stored',
    ]);
    await eraseAccount(uid, erasureDeps());
    await expect(syncOfflineObservations(caller, batch, deps())).rejects.toMatchObject({
      code: 'unauthenticated',
    });
    expect(await recordsOf(uid)).toHaveLength(0);
    expect(await objectsUnder(`users/${uid}/`)).toEqual([]);
    expect(await violations([uid])).toEqual([]);
  });
});
