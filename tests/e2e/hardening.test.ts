/**
 * Issue 13 against the running emulator suite: requests a hostile client sends must neither
 * crash, bloat nor confuse the service. Truncated multipart bodies, elongated strips, the
 * anonymous quota spent before any parsing (429 with Retry-After), retention of anonymous
 * data, feedback racing a deletion, and admin rights checked against the account's current
 * state.
 */
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { signInAnonymously } from 'firebase/auth';
import { FunctionsError, httpsCallable } from 'firebase/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Timestamp } from 'firebase-admin/firestore';
import { collection, getDocs, limit, query } from 'firebase/firestore';
import { withdrawAdmin } from '../../functions/src/common/admin-revocation.js';
import { notFrenchBecause } from '../helpers/french.js';
import {
  accountKindsFrom,
  purgeAnonymousObservations,
} from '../../functions/src/handlers/observation-actions.js';
import { ingestUpload } from '../../functions/src/handlers/ingestion.js';
import { installFixtureModel, syntheticFootprint, trainFixtureModel } from './model-fixture.js';
import {
  CALL_OPTIONS,
  FUNCTIONS_ORIGIN,
  adminAuth,
  adminBucket,
  adminDb,
  client,
  closeAdmin,
  ingestionRecord,
  signedInClient,
  type Client,
} from './support.js';

afterAll(closeAdmin);

const url = `${FUNCTIONS_ORIGIN}/identify`;

async function outcomeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'ok',
    (err: unknown) => (err instanceof FunctionsError ? err.code : `crash: ${String(err)}`),
  );
}

/** A multipart body as a browser would send it, and its content type. */
async function multipartBody(photo: Buffer): Promise<{ body: Buffer; type: string }> {
  const form = new FormData();
  form.append('photo', new Blob([new Uint8Array(photo)], { type: 'image/jpeg' }), 'p.jpg');
  form.append('lat', '45.2');
  form.append('lng', '5.7');
  const request = new Request(url, { method: 'POST', body: form });
  return {
    body: Buffer.from(await request.arrayBuffer()),
    type: request.headers.get('content-type') ?? '',
  };
}

async function anonymousClient(): Promise<Client> {
  const c = client();
  await signInAnonymously(c.auth);
  return c;
}

describe('hostile requests against the emulator suite', () => {
  beforeAll(async () => {
    await installFixtureModel(adminBucket(), adminDb(), await trainFixtureModel());
  });

  it('a truncated multipart body gets a French 400, and the service keeps answering (finding 1)', async () => {
    const user = await signedInClient();
    const token = `Bearer ${await user.auth.currentUser?.getIdToken()}`;
    const { body, type } = await multipartBody(await syntheticFootprint(1, 2));
    // Cut in the middle of the photo part, then just before the closing boundary.
    for (const end of [Math.floor(body.length / 2), body.length - 8]) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { Authorization: token, 'Content-Type': type },
        body: new Uint8Array(body.subarray(0, end)),
      });
      expect(res.status, `body cut at ${end}`).toBe(400);
      const answer = (await res.json()) as { error: { code: string; message: string } };
      expect(answer.error.code).toBe('invalid-argument');
      expect(answer.error.message).toMatch(/Formulaire multipart incomplet/);
    }
    const whole = await fetch(url, {
      method: 'POST',
      headers: { Authorization: token, 'Content-Type': type },
      body: new Uint8Array(body),
    });
    expect(whole.status).toBe(200);
  });

  it('an elongated strip is refused from its header, by identification and ingestion alike (finding 2)', async () => {
    const strip = await sharp({
      create: { width: 64, height: 6400, channels: 3, background: '#765' },
    })
      .png()
      .toBuffer();
    const user = await signedInClient();
    const err = await httpsCallable(
      user.functions,
      'identifyFootprint',
      CALL_OPTIONS,
    )({ photo: strip.toString('base64') }).catch((e: unknown) => e as FunctionsError);
    expect(err).toMatchObject({
      code: 'functions/invalid-argument',
      details: { reason: 'too_elongated' },
    });
    const name = `incoming/renard/strips/${randomUUID()}.png`;
    await adminBucket().file(name).save(strip, { resumable: false });
    const outcome = await ingestUpload(
      { name, size: strip.length },
      {
        db: adminDb(),
        bucket: adminBucket(),
        limits: { maxBytes: 20 << 20, maxPixels: 40_000_000, minSide: 64, maxSide: 1024 },
        now: () => new Date(),
      },
    );
    // The trigger may have recorded it first: either way, one rejection for this reason.
    expect(outcome.status).toBe('rejected');
    expect(await ingestionRecord(name)).toMatchObject({
      status: 'rejected',
      reasonCode: 'too_elongated',
    });
  });

  it('an anonymous account gets the lower quota, spent before its body is even read (finding 3, 11)', async () => {
    const anon = await anonymousClient();
    const identify = httpsCallable(anon.functions, 'identifyFootprint', CALL_OPTIONS);
    // Unreadable payloads cost no decoding, but each one spends quota: parsing comes after.
    const outcomes: string[] = [];
    for (let i = 0; i < 6; i++) outcomes.push(await outcomeOf(identify({ photo: '' })));
    expect(outcomes).toEqual([
      ...Array<string>(5).fill('functions/invalid-argument'),
      'functions/resource-exhausted',
    ]);
    // The multipart endpoint shares the budget, and says when to come back.
    const token = `Bearer ${await anon.auth.currentUser?.getIdToken()}`;
    const { body, type } = await multipartBody(Buffer.from('pas lu'));
    const res = await fetch(url, {
      method: 'POST',
      headers: { Authorization: token, 'Content-Type': type },
      body: new Uint8Array(body),
    });
    expect(res.status, await res.clone().text()).toBe(429);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });

  it('erases anonymous accounts’ observations and photos after the retention period (finding 3)', async () => {
    const day = 86_400_000;
    const now = new Date();
    const seed = async (uid: string, id: string, anonymous: boolean, ageDays: number) => {
      const base = `users/${uid}/observations/${id}`;
      for (const file of ['photo.jpg', 'thumb.jpg']) {
        await adminBucket().file(`${base}/${file}`).save(Buffer.from('x'), { resumable: false });
      }
      await adminDb()
        .doc(base)
        .set({
          anonymous,
          createdAt: Timestamp.fromMillis(now.getTime() - ageDays * day),
          photoPath: `${base}/photo.jpg`,
          thumbnailPath: `${base}/thumb.jpg`,
        });
    };
    const anonUid = `anon-${randomUUID().slice(0, 8)}`;
    const userUid = `user-${randomUUID().slice(0, 8)}`;
    await seed(anonUid, 'old', true, 31);
    await seed(anonUid, 'recent', true, 2);
    await seed(userUid, 'old', false, 400);
    const { erased } = await purgeAnonymousObservations({
      db: adminDb(),
      bucket: adminBucket(),
      now: () => now,
      retentionDays: 30,
      accountKinds: accountKindsFrom(adminAuth()),
    });
    expect(erased).toBe(1);
    expect((await adminDb().doc(`users/${anonUid}/observations/old`).get()).exists).toBe(false);
    const [anonObjects] = await adminBucket().getFiles({ prefix: `users/${anonUid}/` });
    expect(anonObjects.map((f) => f.name).sort()).toEqual([
      `users/${anonUid}/observations/recent/photo.jpg`,
      `users/${anonUid}/observations/recent/thumb.jpg`,
    ]);
    expect((await adminDb().doc(`users/${userUid}/observations/old`).get()).exists).toBe(true);
  });

  it('feedback racing a deletion answers not-found, never internal (finding 7)', async () => {
    const user = await signedInClient();
    const feedback = httpsCallable(user.functions, 'setObservationFeedback', CALL_OPTIONS);
    const remove = httpsCallable(user.functions, 'deleteObservation', CALL_OPTIONS);
    for (let round = 0; round < 5; round++) {
      const observationId = `race${round}${randomUUID().slice(0, 6)}`;
      await adminDb()
        .doc(`users/${user.uid}/observations/${observationId}`)
        .set({ verdict: 'uncertain', createdAt: Timestamp.now(), feedback: null });
      const [fed, deleted] = await Promise.all([
        outcomeOf(feedback({ observationId, correctedSpeciesId: 'loup' })),
        outcomeOf(remove({ observationId })),
      ]);
      expect(['ok', 'functions/not-found'], `round ${round}`).toContain(fed);
      expect(deleted).toBe('ok');
    }
  });

  it('callable bodies the protocol cannot decode get a French invalid-argument, not a bare 500 (issue 20, finding 12)', async () => {
    let deep: unknown = 'feuille';
    for (let i = 0; i < 3_000; i++) deep = [deep];
    let justTooDeep: unknown = 'feuille';
    for (let i = 0; i < 21; i++) justTooDeep = { a: justTooDeep };
    const bodies: Record<string, unknown> = {
      '~6 KB of nesting': deep,
      '21 levels': justTooDeep,
      'an unknown @type': { speciesId: { '@type': 'type.googleapis.com/x', value: 'renard' } },
    };
    for (const [name, data] of Object.entries(bodies)) {
      const res = await fetch(`${FUNCTIONS_ORIGIN}/getSpecies`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ data }),
      });
      const body = (await res.json()) as { error?: { status: string; message: string } };
      expect(res.status, name).toBe(400);
      expect(body.error?.status, name).toBe('INVALID_ARGUMENT');
      expect(notFrenchBecause(body.error?.message ?? ''), name).toBeNull();
      expect(body.error?.message, name).not.toMatch(/__proto__/);
    }
    // The callable still answers a well-formed call afterwards.
    const ok = await fetch(`${FUNCTIONS_ORIGIN}/getSpecies`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ data: { speciesId: 'renard' } }),
    });
    expect(ok.status).toBe(200);
  });

  it('a removed admin loses access at once, although their ID token still says admin (finding 11)', async () => {
    // The claim is set before sign-in, so the client's ID token carries it for an hour.
    const admin = await signedInClient({ admin: true });
    const deleteImage = httpsCallable(admin.functions, 'deleteTrainingImage', CALL_OPTIONS);
    const imageId = 'f'.repeat(64);
    expect(await outcomeOf(deleteImage({ imageId }))).toBe('functions/not-found');
    await adminAuth().setCustomUserClaims(admin.uid, {});
    expect(await outcomeOf(deleteImage({ imageId }))).toBe('functions/permission-denied');
    await adminAuth().setCustomUserClaims(admin.uid, { admin: true });
    // Revocation has a one-second resolution: revoke strictly after the sign-in second (a wait
    // on the clock, whatever the machine's speed; a slow machine only waits less).
    const signedInAt = Date.parse((await admin.auth.currentUser!.getIdTokenResult()).authTime);
    const nextSecond = (Math.floor(signedInAt / 1000) + 1) * 1000;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, nextSecond - Date.now()) + 50));
    await adminAuth().revokeRefreshTokens(admin.uid);
    expect(await outcomeOf(deleteImage({ imageId }))).toBe('functions/unauthenticated');
  });

  it('an admin withdrawn by admin:revoke reads no more review candidates with the old token (issue 20, finding 9)', async () => {
    await adminDb()
      .doc('reviewCandidates/hardening-candidate')
      .set({ ownerUid: 'someone', status: 'pending' });
    const admin = await signedInClient({ admin: true });
    const readQueue = () =>
      getDocs(query(collection(admin.db, 'reviewCandidates'), limit(5))).then(
        (snap) => `${snap.size} lue(s)`,
        (err: { code?: string }) => err.code ?? 'erreur',
      );
    expect(await readQueue()).toBe('1 lue(s)');
    // What `npm run admin:revoke` does; the client keeps its ID token, which still says admin.
    await withdrawAdmin({ auth: adminAuth(), db: adminDb(), now: () => new Date() }, admin.uid);
    expect((await admin.auth.currentUser?.getIdTokenResult())?.claims.admin).toBe(true);
    expect(await readQueue()).toBe('permission-denied');
    const deleteImage = httpsCallable(admin.functions, 'deleteTrainingImage', CALL_OPTIONS);
    expect(await outcomeOf(deleteImage({ imageId: 'f'.repeat(64) }))).toBe(
      'functions/permission-denied',
    );
  });
});
