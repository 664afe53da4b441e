/**
 * A deleted account's data does not come back (issue 20, finding 2), against the Emulator
 * Suite: the old ID token of an erased account is refused by every user callable and by POST
 * /identify; the erasure marker refuses every write of the account through the deployed
 * functions even while the session still looks live; and the races between an identification
 * or an accepted review and the account erasure, ordered by barriers (no sleeps), leave
 * nothing. The data-protection invariants (tests/helpers/data-invariants.ts) are checked after
 * each sequence.
 *
 * The identification and review handlers run in this process against the emulators when a
 * race needs a pause point inside them (in-process.ts).
 */
import { randomUUID } from 'node:crypto';
import { deleteUser } from 'firebase/auth';
import { HttpsError } from 'firebase-functions/https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentifyDeps, IdentifyResponse } from '../../functions/src/handlers/identify.js';
import { eraseAccount } from '../../functions/src/handlers/erasure.js';
import {
  ACCOUNT_ERASED_FR,
  erasureMarkerRef,
} from '../../functions/src/handlers/erasure-marker.js';
import { acceptReviewCandidate, candidateIdFor } from '../../functions/src/handlers/review.js';
import { barrier } from '../helpers/barrier.js';
import {
  callWithToken,
  erasureDeps,
  identifyAs as identifyPhotoAs,
  objectsUnder,
  texturedPhoto,
  violations,
} from './in-process.js';
import {
  FUNCTIONS_ORIGIN,
  adminBucket,
  adminDb,
  closeAdmin,
  eventually,
  signedInClient,
  type Client,
} from './support.js';

type Signed = Client & { uid: string; email: string };

const SESSION_GONE_FR = 'Session révoquée ou expirée : reconnectez-vous.';

let photo: Buffer;
let admin: Signed;

/** Identifies `photo` for `uid` through the handler (consent given: a candidate is queued). */
function identifyAs(uid: string, deps: Partial<IdentifyDeps> = {}): Promise<IdentifyResponse> {
  return identifyPhotoAs(uid, photo, { deps });
}

async function postIdentify(token: string) {
  const form = new FormData();
  form.append('photo', new Blob([new Uint8Array(photo)], { type: 'image/jpeg' }), 'p.jpg');
  form.append('shareForTraining', 'true');
  const res = await fetch(`${FUNCTIONS_ORIGIN}/identify`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}` },
    body: form,
  });
  return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
}

/** Every callable that reads or writes a hiker's own data, with a valid payload. */
const userCallables = (observationId: string): [string, unknown][] => [
  ['identifyFootprint', { photo: photo.toString('base64'), shareForTraining: true }],
  ['listObservations', {}],
  ['getObservation', { observationId }],
  ['setObservationFeedback', { observationId, correctedSpeciesId: 'loup' }],
  ['setObservationShare', { observationId, shareForTraining: true }],
  ['refineObservation', { observationId, answers: { toes: '4' } }],
  ['addObservationPhoto', { observationId, photo: photo.toString('base64') }],
  [
    'syncOfflineObservations',
    {
      observations: [
        {
          clientId: `hors-ligne-${observationId}`,
          photo: photo.toString('base64'),
          takenAt: '2026-04-30T08:00:00Z',
          shareForTraining: true,
          onDevice: {
            bundleVersion: 'paquet-1',
            verdict: 'uncertain',
            top: [{ speciesId: 'renard', probability: 0.4 }],
            identifiedAt: '2026-04-30T08:00:02Z',
          },
        },
      ],
    },
  ],
  ['deleteObservation', { observationId }],
];

beforeAll(async () => {
  photo = await texturedPhoto();
  admin = await signedInClient({ admin: true });
});

afterAll(closeAdmin);

describe('the invariants checker (issue 20)', () => {
  it('finds each kind of violation, and nothing once they are gone', async () => {
    const uid = `checker-${randomUUID()}`;
    const gone = `gone-${randomUUID()}`;
    const db = adminDb();
    const bucket = adminBucket();
    const orphan = `users/${uid}/observations/orphan/photo.jpg`;
    await bucket.file(orphan).save(photo, { resumable: false });
    const record = db.doc(`users/${uid}/observations/nophoto`);
    await record.set({
      photoPath: `users/${uid}/observations/nophoto/photo.jpg`,
      thumbnailPath: `users/${uid}/observations/nophoto/thumb.jpg`,
      shareForTraining: true,
    });
    const candidate = db.doc(`reviewCandidates/${candidateIdFor(uid, 'erased')}`);
    await candidate.set({ ownerUid: uid, observationId: 'erased', status: 'pending' });
    const ticket = db.doc(`rateLimits/${gone}/tickets/t1`);
    await ticket.set({ day: '2026-12-01' });

    const found = await violations([gone]);
    expect(found.map((v) => [v.rule, v.where]).sort()).toEqual(
      [
        ['deleted-account-data', `firestore:rateLimits/${gone}`],
        ['erased-photo-derivative', `firestore:${candidate.path}`],
        ['object-without-record', `storage:${orphan}`],
        ['record-without-object', `firestore:${record.path}`],
        ['record-without-object', `firestore:${record.path}`],
      ].sort(),
    );

    await Promise.all([
      bucket.file(orphan).delete(),
      record.delete(),
      candidate.delete(),
      db.recursiveDelete(db.doc(`rateLimits/${gone}`)),
    ]);
    expect(await violations([gone])).toEqual([]);
  });
});

describe('a deleted account’s data does not come back (issue 20, finding 2)', () => {
  it('after the erasure, its old token is refused by every user callable and POST /identify; nothing is stored', async () => {
    const hiker = await signedInClient();
    const { observationId } = await identifyAs(hiker.uid);
    const token = (await hiker.auth.currentUser?.getIdToken()) ?? '';
    // The token works while the account exists.
    const before = await callWithToken('listObservations', token, {});
    expect(before.status, JSON.stringify(before.body)).toBe(200);

    await deleteUser(hiker.auth.currentUser as NonNullable<typeof hiker.auth.currentUser>);
    // The Auth emulator fires eraseDeletedAccount in the functions emulator.
    await eventually(
      async () => {
        const marker = await erasureMarkerRef(adminDb(), hiker.uid).get();
        return marker.get('completedAt') ? true : undefined;
      },
      { what: 'erasure of the deleted account', intervalMs: 500 },
    );
    expect(await violations()).toEqual([]);

    for (const [name, data] of userCallables(observationId)) {
      const { status, body } = await callWithToken(name, token, data);
      expect(status, name).toBe(401);
      expect(body.error, name).toEqual({ status: 'UNAUTHENTICATED', message: SESSION_GONE_FR });
    }
    const http = await postIdentify(token);
    expect(http.status).toBe(401);
    expect(http.body.error?.code).toBe('unauthenticated');

    // Its candidate went with the account: an admin can no longer accept it.
    const accept = await callWithToken(
      'acceptReviewCandidate',
      (await admin.auth.currentUser?.getIdToken()) ?? '',
      { candidateId: candidateIdFor(hiker.uid, observationId), speciesId: 'lynx' },
    );
    expect(accept.body.error?.status).toBe('NOT_FOUND');

    // Nothing was stored by any of those calls: no record, photo, candidate or quota ticket.
    expect(await violations()).toEqual([]);
    expect(await objectsUnder(`users/${hiker.uid}/`)).toEqual([]);
    expect((await adminDb().collection(`users/${hiker.uid}/observations`).get()).size).toBe(0);
    expect((await adminDb().collection(`rateLimits/${hiker.uid}/tickets`).get()).size).toBe(0);
    // Generous: each function's first call starts its emulator worker (slow on 2 busy cores).
  });

  it('once the erasure has begun, every write of the account is refused by the deployed functions, even with a live session', async () => {
    const hiker = await signedInClient();
    const { observationId } = await identifyAs(hiker.uid);
    const candidateId = candidateIdFor(hiker.uid, observationId);
    const token = (await hiker.auth.currentUser?.getIdToken()) ?? '';
    // The erasure paused right after its marker (as if Auth had not yet caught up).
    const paused = barrier();
    const erasure = eraseAccount(hiker.uid, erasureDeps(), { markerWritten: paused.wait });
    await paused.reached;
    try {
      for (const name of [
        'identifyFootprint',
        'setObservationShare',
        'setObservationFeedback',
        'refineObservation',
        'addObservationPhoto',
        'syncOfflineObservations',
      ]) {
        const data = userCallables(observationId).find(([n]) => n === name)?.[1];
        const { status, body } = await callWithToken(name, token, data);
        expect(status, name).toBe(401);
        expect(body.error, name).toEqual({ status: 'UNAUTHENTICATED', message: ACCOUNT_ERASED_FR });
      }
      const http = await postIdentify(token);
      expect(http.status).toBe(401);
      expect(http.body.error?.code).toBe('unauthenticated');
      const accept = await callWithToken(
        'acceptReviewCandidate',
        (await admin.auth.currentUser?.getIdToken()) ?? '',
        { candidateId, speciesId: 'lynx' },
      );
      expect(accept.body.error?.status).toBe('NOT_FOUND');
      // None of them wrote: still the one observation, its candidate pending, no quota ticket.
      expect((await adminDb().collection(`users/${hiker.uid}/observations`).get()).size).toBe(1);
      expect((await adminDb().doc(`reviewCandidates/${candidateId}`).get()).get('status')).toBe(
        'pending',
      );
      expect((await adminDb().collection(`rateLimits/${hiker.uid}/tickets`).get()).size).toBe(0);
    } finally {
      paused.release();
    }
    await erasure;
    expect(await violations([hiker.uid])).toEqual([]);
  });

  it('an identification paused after storing its photos while the erasure runs leaves nothing', async () => {
    const uid = `race-${randomUUID()}`;
    const paused = barrier();
    const identifying = identifyAs(uid, { beforeRecord: paused.wait }).catch((e: unknown) => e);
    await paused.reached;
    try {
      // The race is real: its photos are in Storage, its record not yet written.
      expect(await objectsUnder(`users/${uid}/`)).toHaveLength(2);
      await eraseAccount(uid, erasureDeps());
    } finally {
      paused.release();
    }
    const refused = await identifying;
    expect(refused).toBeInstanceOf(HttpsError);
    expect(refused).toMatchObject({ code: 'unauthenticated', message: ACCOUNT_ERASED_FR });

    expect(await objectsUnder(`users/${uid}/`)).toEqual([]);
    expect((await adminDb().collection(`users/${uid}/observations`).get()).size).toBe(0);
    expect(
      (await adminDb().collection('reviewCandidates').where('ownerUid', '==', uid).get()).size,
    ).toBe(0);
    expect(await violations([uid])).toEqual([]);
  });

  it('an identification that reaches its record after the marker is refused and cleans up', async () => {
    const uid = `race-${randomUUID()}`;
    const paused = barrier();
    const erasure = eraseAccount(uid, erasureDeps(), { markerWritten: paused.wait });
    await paused.reached;
    try {
      const refused = await identifyAs(uid).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'unauthenticated', message: ACCOUNT_ERASED_FR });
      expect(await objectsUnder(`users/${uid}/`)).toEqual([]);
    } finally {
      paused.release();
    }
    await erasure;
    expect(await violations([uid])).toEqual([]);
  });

  it('an identification whose record committed before the marker is found and erased', async () => {
    const uid = `race-${randomUUID()}`;
    const { observationId } = await identifyAs(uid);
    expect(await objectsUnder(`users/${uid}/`)).toHaveLength(2);
    expect(
      (
        await adminDb()
          .doc(`reviewCandidates/${candidateIdFor(uid, observationId)}`)
          .get()
      ).exists,
    ).toBe(true);
    await eraseAccount(uid, erasureDeps());
    expect(await objectsUnder(`users/${uid}/`)).toEqual([]);
    expect(await violations([uid])).toEqual([]);
  });

  it('a review accepted just before the erasure: its copy, written after, never becomes a training image', async () => {
    const uid = `race-${randomUUID()}`;
    const { observationId } = await identifyAs(uid);
    const candidateId = candidateIdFor(uid, observationId);
    const paused = barrier();
    // Accepted and the photo read; paused before the copy is written under incoming/.
    const accepting = acceptReviewCandidate(
      admin.uid,
      { candidateId, speciesId: 'lynx' },
      { db: adminDb(), bucket: adminBucket(), now: () => new Date(), beforeCopy: paused.wait },
    );
    await paused.reached;
    try {
      expect((await adminDb().doc(`reviewCandidates/${candidateId}`).get()).get('status')).toBe(
        'accepted',
      );
      await eraseAccount(uid, erasureDeps());
    } finally {
      paused.release();
    }
    await accepting;
    // The copy reached ingestion (the trigger in the functions emulator), which found the
    // candidate gone and discarded it: no training image, no upload record, no copy left.
    await eventually(
      async () => ((await objectsUnder('incoming/')).length === 0 ? true : undefined),
      { what: 'the late copy discarded by ingestion' },
    );
    expect((await adminDb().collection('trainingImages').get()).size).toBe(0);
    expect((await adminDb().collection('uploads').get()).size).toBe(0);
    expect(await violations([uid])).toEqual([]);
  });
});
