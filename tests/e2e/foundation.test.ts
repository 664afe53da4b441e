import type { HealthReport } from '../../functions/src/handlers/health.js';
import { Timestamp as AdminTimestamp } from 'firebase-admin/firestore';
import { signOut } from 'firebase/auth';
import { collection, doc, getDoc, getDocs, setDoc } from 'firebase/firestore';
import { httpsCallable } from 'firebase/functions';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CALL_OPTIONS,
  FUNCTIONS_ORIGIN,
  adminDb,
  client,
  closeAdmin,
  signedInClient,
} from './support.js';

afterAll(closeAdmin);

describe('health endpoint', () => {
  it('reports version, emulator mode and the seeded catalogue', async () => {
    const res = await fetch(`${FUNCTIONS_ORIGIN}/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as HealthReport;
    expect(body.service).toBe('wildlens-functions');
    expect(body.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(body.mode.runtime).toBe('emulator');
    expect(['official', 'offline', 'mixed']).toContain(body.mode.stack);
    expect(body.firestore).toEqual({ reachable: true, speciesCount: 13 });
    // Never the slow pure-JS backend: tfjs-node when installed, else wasm.
    expect(body.model.backend).toMatch(/^(tensorflow|wasm)/);
  });

  it('refuses other methods', async () => {
    const res = await fetch(`${FUNCTIONS_ORIGIN}/health`, { method: 'DELETE' });
    expect(res.status).toBe(405);
  });
});

describe('Firestore through the client SDK, with firestore.rules enforced', () => {
  it('lets anyone read the species catalogue but nobody write it', async () => {
    const anon = client();
    const snap = await getDocs(collection(anon.db, 'species'));
    expect(snap.size).toBe(13);
    const renard = await getDoc(doc(anon.db, 'species', 'renard'));
    expect(renard.get('latinName')).toBe('Vulpes vulpes');
    await expect(setDoc(doc(anon.db, 'species', 'renard'), { nameFr: 'x' })).rejects.toMatchObject({
      code: 'permission-denied',
    });
  });

  it('lets a user read their own observations only, and write none', async () => {
    const owner = await signedInClient();
    const other = await signedInClient();
    await adminDb()
      .doc(`users/${owner.uid}/observations/obs-1`)
      .set({ verdict: 'identified', createdAt: AdminTimestamp.now() });

    const own = await getDoc(doc(owner.db, `users/${owner.uid}/observations/obs-1`));
    expect(own.get('verdict')).toBe('identified');
    await expect(
      getDoc(doc(other.db, `users/${owner.uid}/observations/obs-1`)),
    ).rejects.toMatchObject({ code: 'permission-denied' });
    await expect(
      setDoc(doc(owner.db, `users/${owner.uid}/observations/obs-2`), { verdict: 'identified' }),
    ).rejects.toMatchObject({ code: 'permission-denied' });
  });

  it('keeps training data admin-only', async () => {
    await adminDb().doc('trainingImages/abc').set({ speciesId: 'loup' });
    const admin = await signedInClient({ admin: true });
    const user = await signedInClient();
    expect((await getDoc(doc(admin.db, 'trainingImages/abc'))).get('speciesId')).toBe('loup');
    await expect(getDoc(doc(user.db, 'trainingImages/abc'))).rejects.toMatchObject({
      code: 'permission-denied',
    });
    await expect(
      setDoc(doc(admin.db, 'trainingImages/abc'), { speciesId: 'x' }),
    ).rejects.toMatchObject({ code: 'permission-denied' });
  });
});

describe('callable functions through the Firebase JS client SDK', () => {
  it('serves the public catalogue without sign-in', async () => {
    const anon = client();
    const list = await httpsCallable<unknown, { species: { speciesId: string }[] }>(
      anon.functions,
      'listSpecies',
      CALL_OPTIONS,
    )();
    expect(list.data.species.map((s) => s.speciesId).sort()).toHaveLength(13);
    const one = await httpsCallable<
      unknown,
      { speciesId: string; nameFr: string; datasetLabels?: unknown }
    >(
      anon.functions,
      'getSpecies',
      CALL_OPTIONS,
    )({ speciesId: 'raton-laveur' });
    expect(one.data.nameFr).toBe('Raton laveur');
    expect(one.data.speciesId).toBe('raton-laveur');
    expect(one.data.datasetLabels).toBeUndefined();
    // Issue 13, finding 11: the world-readable documents themselves hold no internal fields.
    const publicDoc = await getDoc(doc(anon.db, 'species/raton-laveur'));
    expect(publicDoc.get('nameFr')).toBe('Raton laveur');
    expect(publicDoc.get('datasetLabels')).toBeUndefined();
  });

  it('rejects bad species ids with precise codes and French messages', async () => {
    const get = httpsCallable(client().functions, 'getSpecies', CALL_OPTIONS);
    await expect(get({ speciesId: '../etc' })).rejects.toMatchObject({
      code: 'functions/invalid-argument',
    });
    const error = await get({ speciesId: 'dragon' }).catch(
      (e: unknown) => e as Error & { code: string },
    );
    expect(error).toMatchObject({ code: 'functions/not-found' });
    expect((error as Error).message).toMatch(/^Espèce inconnue : « dragon »\./);
  });

  it('pages through the signed-in user history, newest first, and nobody else’s', async () => {
    const user = await signedInClient();
    const other = await signedInClient();
    const base = Date.parse('2026-05-01T10:00:00Z');
    const batch = adminDb().batch();
    for (let i = 0; i < 5; i++) {
      batch.set(adminDb().doc(`users/${user.uid}/observations/o${i}`), {
        verdict: 'identified',
        top: [{ speciesId: 'renard', probability: 0.8 }],
        speciesNameFr: 'Renard roux',
        createdAt: AdminTimestamp.fromMillis(base + i * 60_000),
      });
    }
    batch.set(adminDb().doc(`users/${other.uid}/observations/x`), {
      verdict: 'uncertain',
      createdAt: AdminTimestamp.fromMillis(base),
    });
    await batch.commit();

    type Page = {
      items: { observationId: string; createdAt: string }[];
      nextCursor: string | null;
    };
    const list = httpsCallable<unknown, Page>(user.functions, 'listObservations', CALL_OPTIONS);
    const first = await list({ pageSize: 2 });
    expect(first.data.items.map((i) => i.observationId)).toEqual(['o4', 'o3']);
    const second = await list({ pageSize: 2, cursor: first.data.nextCursor });
    expect(second.data.items.map((i) => i.observationId)).toEqual(['o2', 'o1']);
    const third = await list({ pageSize: 2, cursor: second.data.nextCursor });
    expect(third.data.items.map((i) => i.observationId)).toEqual(['o0']);
    expect(third.data.nextCursor).toBeNull();

    await expect(list({ pageSize: 500 })).rejects.toMatchObject({
      code: 'functions/invalid-argument',
    });
    await signOut(user.auth);
    await expect(list({})).rejects.toMatchObject({ code: 'functions/unauthenticated' });
  });
});
