/**
 * syncOfflineObservations' handler on in-memory stand-ins of Firestore and Storage (the
 * emulator runs are in tests/e2e/offline-sync.test.ts): per-item outcomes, idempotence, the
 * quota spent per photo and given back when not needed, and a duplicate that commits first.
 */
import type { Firestore } from 'firebase-admin/firestore';
import { HttpsError } from 'firebase-functions/https';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { Bucket } from '../firebase.js';
import type { ServingModel } from '../engine/model-engine.js';
import { notFrenchBecause } from '../../../tests/helpers/french.js';
import {
  syncOfflineObservations,
  syncedObservationId,
  type OfflineSyncDeps,
  type SyncItemOutcome,
} from './offline-sync.js';

type Data = Record<string, unknown>;

/** Documents and objects in memory; transactions read committed documents, write on success. */
function fakes(options: { quota?: number } = {}) {
  const objects = new Map<string, Buffer>();
  const documents = new Map<string, Data>();
  const bucket = {
    name: 'demo.appspot.com',
    file: (name: string) => ({
      save: async (data: Buffer) => void objects.set(name, data),
      delete: async () => {
        if (!objects.delete(name)) throw Object.assign(new Error('No such object'), { code: 404 });
      },
    }),
  };
  type Ref = {
    id: string;
    path: string;
    get(): Promise<{ exists: boolean; data(): Data | undefined }>;
    collection(name: string): { doc(id?: string): Ref };
  };
  const snapshot = (path: string) => ({
    exists: documents.has(path),
    data: () => documents.get(path),
  });
  const docRef = (path: string): Ref => ({
    id: path.split('/').pop() as string,
    path,
    get: async () => snapshot(path),
    collection: (name) => ({ doc: (id = 'auto') => docRef(`${path}/${name}/${id}`) }),
  });
  const hooks: { beforeCommit?: () => void } = {};
  const db = {
    collection: (name: string) => ({ doc: (id = 'auto') => docRef(`${name}/${id}`) }),
    runTransaction: async <T>(update: (tx: unknown) => Promise<T>) => {
      const writes: [string, Data][] = [];
      const tx = {
        get: async (ref: Ref) => snapshot(ref.path),
        create: (ref: Ref, data: Data) => (writes.push([ref.path, data]), tx),
      };
      hooks.beforeCommit?.();
      const result = await update(tx);
      for (const [path, data] of writes) {
        if (documents.has(path)) throw new Error(`ALREADY_EXISTS: ${path}`);
        documents.set(path, data);
      }
      return result;
    },
  };
  const model: ServingModel = {
    version: 'v-serveur',
    predict: async () => ({
      verdict: 'uncertain',
      top: [
        { speciesId: 'renard', probability: 0.5 },
        { speciesId: 'chien', probability: 0.3 },
        { speciesId: 'loup', probability: 0.2 },
      ],
      probabilities: { renard: 0.5, chien: 0.3, loup: 0.2 },
      timingsMs: { preprocess: 1, inference: 1 },
    }),
    dispose: () => {},
  };
  const charges = { spent: 0, refunded: 0 };
  const deps: OfflineSyncDeps = {
    db: db as unknown as Firestore,
    bucket: bucket as unknown as Bucket,
    engine: { model: async () => model },
    limits: { maxBytes: 10 * 1024 * 1024, maxPixels: 40_000_000, minSide: 64, photoMaxSide: 1600 },
    now: () => new Date('2026-05-01T12:00:00Z'),
    species: async (id) => ({ speciesId: id, nameFr: id }) as never,
    storageOrigin: 'http://127.0.0.1:9199',
    consumeBudget: async () => {
      if (charges.spent - charges.refunded >= (options.quota ?? Infinity))
        throw new HttpsError(
          'resource-exhausted',
          'Limite quotidienne atteinte (3 identifications) : réessayez demain.',
          { retryAfterSeconds: 3600 },
        );
      charges.spent++;
      return { refund: async () => void charges.refunded++ };
    },
  };
  const under = (prefix: string) =>
    [...documents].filter(([path]) => path.startsWith(prefix)).map(([, data]) => data);
  return {
    deps,
    objects,
    documents,
    charges,
    hooks,
    records: () => under('users/'),
    candidates: () => under('reviewCandidates/'),
  };
}

const photo = (seed = 0) =>
  sharp({
    create: { width: 800, height: 600, channels: 3, background: { r: 100 + seed, g: 80, b: 48 } },
  })
    .jpeg()
    .toBuffer();

async function item(clientId: string, extra: Data = {}): Promise<Data> {
  return {
    clientId,
    photo: (await photo()).toString('base64'),
    takenAt: '2026-04-30T08:00:00Z',
    location: { lat: 45.2, lng: 5.7 },
    onDevice: {
      bundleVersion: 'v-appareil',
      verdict: 'uncertain',
      top: [
        { speciesId: 'chien', probability: 0.44 },
        { speciesId: 'renard', probability: 0.31 },
      ],
      domain: 'field',
      oodScore: 0.71,
      identifiedAt: '2026-04-30T08:00:03Z',
    },
    ...extra,
  };
}

const HIKER = { uid: 'hiker1', anonymous: false };
const statuses = (items: SyncItemOutcome[]) =>
  items.map((i) => (i.status === 'refused' ? `refused:${i.reason}` : i.status));

describe('syncOfflineObservations', () => {
  it('stores each item as an observation with both answers, under an id derived from the device’s id', async () => {
    const { deps, records, objects, charges } = fakes();
    const res = await syncOfflineObservations(
      HIKER,
      { observations: [await item('a1'), await item('a2', { shareForTraining: true })] },
      deps,
    );
    expect(statuses(res.items)).toEqual(['stored', 'stored']);
    expect(res).toMatchObject({ stored: 2, alreadyStored: 0, refused: 0 });
    const first = res.items[0] as Extract<SyncItemOutcome, { status: 'stored' }>;
    expect(first.observation).toMatchObject({
      observationId: syncedObservationId('hiker1', 'a1'),
      verdict: 'uncertain',
      model: { version: 'v-serveur' },
      // The server says renard, the device said chien.
      sameTopSpecies: false,
    });
    expect(first.observation.top[0]?.speciesId).toBe('renard');
    expect(first.observation.candidates.speciesIds).toContain('renard');
    expect(charges).toEqual({ spent: 2, refunded: 0 });

    const record = records().find((r) => (r.offline as Data).clientId === 'a1') as Data;
    expect(record).toMatchObject({
      verdict: 'uncertain',
      speciesId: 'renard',
      model: { version: 'v-serveur' },
      location: { lat: 45.2, lng: 5.7 },
      locationSource: 'client',
      shareForTraining: false,
      offline: {
        clientId: 'a1',
        bundleVersion: 'v-appareil',
        verdict: 'uncertain',
        top: [
          { speciesId: 'chien', probability: 0.44 },
          { speciesId: 'renard', probability: 0.31 },
        ],
        domain: 'field',
        oodScore: 0.71,
      },
    });
    expect((record.takenAt as { toDate(): Date }).toDate().toISOString()).toBe(
      '2026-04-30T08:00:00.000Z',
    );
    expect(
      ((record.offline as Data).identifiedAt as { toDate(): Date }).toDate().toISOString(),
    ).toBe('2026-04-30T08:00:03.000Z');
    // The photo's objects are named by the attempt, and the record names them.
    const prefix = `users/hiker1/observations/${syncedObservationId('hiker1', 'a1')}/`;
    const named = [...objects.keys()].filter((n) => n.startsWith(prefix)).sort();
    expect(named).toHaveLength(2);
    expect(named).toEqual([record.photoPath, record.thumbnailPath].sort());
    expect(String(record.photoPath)).toMatch(/\/photo-[0-9a-f]{20}\.jpg$/);
  });

  it('respects consent: only the shared item joins the review queue', async () => {
    const { deps, candidates } = fakes();
    await syncOfflineObservations(
      HIKER,
      { observations: [await item('a1'), await item('a2', { shareForTraining: true })] },
      deps,
    );
    expect(candidates()).toEqual([
      expect.objectContaining({
        ownerUid: 'hiker1',
        observationId: syncedObservationId('hiker1', 'a2'),
        status: 'pending',
        modelVersion: 'v-serveur',
      }),
    ]);
  });

  it('is idempotent: the same batch again is already there, stores nothing and spends nothing', async () => {
    const { deps, records, objects, charges } = fakes();
    const batch = { observations: [await item('a1'), await item('a2')] };
    const first = await syncOfflineObservations(HIKER, batch, deps);
    const again = await syncOfflineObservations(HIKER, batch, deps);
    expect(statuses(again.items)).toEqual(['already_stored', 'already_stored']);
    expect(again).toMatchObject({ stored: 0, alreadyStored: 2, refused: 0 });
    expect(again.items.map((i) => (i.status === 'refused' ? null : i.observation))).toEqual(
      first.items.map((i) => (i.status === 'refused' ? null : i.observation)),
    );
    expect(records()).toHaveLength(2);
    expect(objects.size).toBe(4);
    expect(charges).toEqual({ spent: 2, refunded: 0 });
  });

  it('the same id twice in one batch is stored once', async () => {
    const { deps, records } = fakes();
    const res = await syncOfflineObservations(
      HIKER,
      { observations: [await item('a1'), await item('a1')] },
      deps,
    );
    expect(statuses(res.items)).toEqual(['stored', 'already_stored']);
    expect(records()).toHaveLength(1);
  });

  it('a duplicate that commits first: this attempt deletes its photos and gives its quota back', async () => {
    const { deps, records, objects, charges, documents, hooks } = fakes();
    const id = syncedObservationId('hiker1', 'a1');
    const path = `users/hiker1/observations/${id}`;
    // Another call's record lands after this one checked, before its transaction.
    hooks.beforeCommit = () => {
      documents.set(path, {
        verdict: 'uncertain',
        top: [{ speciesId: 'renard', probability: 0.5 }],
        candidates: { speciesIds: ['renard'], coverage: null },
        model: { version: 'v-serveur' },
        offline: { top: [{ speciesId: 'renard', probability: 0.6 }] },
      });
    };
    const res = await syncOfflineObservations(HIKER, { observations: [await item('a1')] }, deps);
    expect(res.items[0]).toMatchObject({
      status: 'already_stored',
      observation: { observationId: id, sameTopSpecies: true },
    });
    expect(records()).toHaveLength(1);
    expect(objects.size).toBe(0);
    expect(charges).toEqual({ spent: 1, refunded: 1 });
  });

  it('refuses a bad photo or an invalid item alone, in French; the others are stored', async () => {
    const { deps, records, objects } = fakes();
    const res = await syncOfflineObservations(
      HIKER,
      {
        observations: [
          await item('good1'),
          await item('bad-photo', { photo: Buffer.from('pas une image').toString('base64') }),
          await item('late', { takenAt: '2099-01-01T00:00:00Z' }),
          { photo: 'AAAA' },
          'pas un objet',
          await item('good2'),
        ],
      },
      deps,
    );
    expect(statuses(res.items)).toEqual([
      'stored',
      'refused:photo',
      'refused:invalid',
      'refused:invalid',
      'refused:invalid',
      'stored',
    ]);
    expect(res.items.map((i) => i.clientId)).toEqual([
      'good1',
      'bad-photo',
      'late',
      null,
      null,
      'good2',
    ]);
    for (const outcome of res.items) {
      if (outcome.status !== 'refused') continue;
      expect(notFrenchBecause(outcome.message), outcome.message).toBeNull();
    }
    expect(res.items[1]).toMatchObject({ photoReason: 'unsupported_format' });
    expect(res.items[2]).toMatchObject({ message: expect.stringMatching(/futur/) });
    expect(res.items[3]).toMatchObject({ message: expect.stringMatching(/^clientId manquant/) });
    expect(records()).toHaveLength(2);
    expect(objects.size).toBe(4);
  });

  it('once the quota runs out, that item and every later one are refused; the earlier ones kept', async () => {
    const { deps, records, charges } = fakes({ quota: 2 });
    const stored = await syncOfflineObservations(
      HIKER,
      { observations: [await item('old')] },
      deps,
    );
    expect(stored.stored).toBe(1);
    const res = await syncOfflineObservations(
      HIKER,
      {
        observations: [
          await item('old'),
          await item('b1'),
          await item('b2'),
          await item('b3'),
          { clientId: 'b4' },
        ],
      },
      deps,
    );
    expect(statuses(res.items)).toEqual([
      'already_stored',
      'stored',
      'refused:quota',
      'refused:quota',
      'refused:quota',
    ]);
    expect(res.items[2]).toMatchObject({
      message: 'Limite quotidienne atteinte (3 identifications) : réessayez demain.',
      retryAfterSeconds: 3600,
    });
    expect(records()).toHaveLength(2);
    expect(charges).toEqual({ spent: 2, refunded: 0 });
  });

  it('a model not ready gives the quota back and leaves the rest for later', async () => {
    const { deps, records, charges } = fakes();
    deps.engine = {
      model: () =>
        Promise.reject(
          new HttpsError('unavailable', 'Le modèle d’identification est en cours de chargement.', {
            retryAfterSeconds: 10,
          }),
        ),
    };
    const res = await syncOfflineObservations(
      HIKER,
      { observations: [await item('c1'), await item('c2')] },
      deps,
    );
    expect(statuses(res.items)).toEqual(['refused:unavailable', 'refused:unavailable']);
    expect(res.items[0]).toMatchObject({ retryAfterSeconds: 10 });
    expect(records()).toHaveLength(0);
    expect(charges).toEqual({ spent: 1, refunded: 1 });
  });

  it('refuses a malformed batch as a whole, in French', async () => {
    const { deps } = fakes();
    for (const data of [
      null,
      {},
      { observations: [] },
      { observations: 'x' },
      { observations: Array.from({ length: 21 }, () => ({})) },
      { observations: [{}], extra: 1 },
    ]) {
      const err = await syncOfflineObservations(HIKER, data, deps).catch((e: unknown) => e);
      expect(err, JSON.stringify(data)).toBeInstanceOf(HttpsError);
      expect((err as HttpsError).code).toBe('invalid-argument');
      expect(notFrenchBecause((err as HttpsError).message)).toBeNull();
    }
  });

  it('an erased account fails the whole call', async () => {
    const { deps, documents, records, objects } = fakes();
    const { ERASED_ACCOUNTS_COLLECTION, erasureMarkerId } = await import('./erasure-marker.js');
    documents.set(`${ERASED_ACCOUNTS_COLLECTION}/${erasureMarkerId('hiker1')}`, {});
    const err = await syncOfflineObservations(
      HIKER,
      { observations: [await item('d1'), await item('d2')] },
      deps,
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'unauthenticated' });
    expect(records()).toHaveLength(0);
    expect(objects.size).toBe(0);
  });
});
