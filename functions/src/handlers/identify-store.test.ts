import type { Firestore } from 'firebase-admin/firestore';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { Bucket } from '../firebase.js';
import type { ServingModel } from '../engine/model-engine.js';
import { HttpsError } from 'firebase-functions/https';
import { identifyFootprint, type IdentifyDeps } from './identify.js';
import { corruptImage } from '../images/inspect.js';
import {
  ACCOUNT_ERASED_FR,
  ERASED_ACCOUNTS_COLLECTION,
  erasureMarkerId,
} from './erasure-marker.js';

/** In-memory stand-ins for the bucket and the documents (no Firebase needed). */
function fakes(createFails: boolean) {
  const objects = new Map<string, Buffer>();
  const documents = new Map<string, Record<string, unknown>>();
  const bucket = {
    name: 'demo.appspot.com',
    file: (name: string) => ({
      save: async (data: Buffer) => void objects.set(name, data),
      delete: async () => {
        if (!objects.delete(name)) throw Object.assign(new Error('No such object'), { code: 404 });
      },
    }),
  };
  type Ref = { id: string; path: string; collection(name: string): { doc(id?: string): Ref } };
  const docRef = (path: string): Ref => ({
    id: path.split('/').pop() as string,
    path,
    collection: (name) => ({ doc: (id = 'obs123') => docRef(`${path}/${name}/${id}`) }),
  });
  const db = {
    collection: (name: string) => ({ doc: (id = 'obs123') => docRef(`${name}/${id}`) }),
    // A transaction: reads see committed documents, writes land together on success.
    runTransaction: async <T>(update: (tx: unknown) => Promise<T>) => {
      const writes: [string, Record<string, unknown>][] = [];
      const tx = {
        get: async (ref: Ref) => ({ exists: documents.has(ref.path) }),
        create: (ref: Ref, data: Record<string, unknown>) => (writes.push([ref.path, data]), tx),
      };
      const result = await update(tx);
      if (createFails) throw new Error('firestore unavailable');
      for (const [path, data] of writes) documents.set(path, data);
      return result;
    },
  };
  const recordsUnder = (prefix: string) =>
    [...documents].filter(([path]) => path.startsWith(prefix)).map(([, data]) => data);
  const model: ServingModel = {
    version: 'v-test',
    predict: async () => ({
      verdict: 'uncertain',
      top: [
        { speciesId: 'renard', probability: 0.41234 },
        { speciesId: 'loup', probability: 0.3 },
        { speciesId: 'chien', probability: 0.2 },
        { speciesId: 'chat', probability: 0.08766 },
      ],
      probabilities: { renard: 0.41234, loup: 0.3, chien: 0.2, chat: 0.08766 },
      timingsMs: { preprocess: 1, inference: 1 },
    }),
    dispose: () => {},
  };
  const deps: IdentifyDeps = {
    db: db as unknown as Firestore,
    bucket: bucket as unknown as Bucket,
    engine: { model: async () => model },
    limits: { maxBytes: 10 * 1024 * 1024, maxPixels: 40_000_000, minSide: 64, photoMaxSide: 1600 },
    now: () => new Date('2026-05-01T12:00:00Z'),
    species: async (id) => ({ speciesId: id, nameFr: 'Renard roux' }) as never,
    storageOrigin: 'http://127.0.0.1:9199',
  };
  return {
    deps,
    objects,
    documents,
    records: () => recordsUnder('users/'),
    candidates: () => recordsUnder('reviewCandidates/'),
  };
}

const photo = () =>
  sharp({ create: { width: 2400, height: 1800, channels: 3, background: '#6b5030' } })
    .jpeg()
    .withExif({
      IFD3: {
        GPSLatitudeRef: 'N',
        GPSLatitude: '45/1 0/1 0/1',
        GPSLongitudeRef: 'E',
        GPSLongitude: '6/1 0/1 0/1',
      },
    })
    .toBuffer();

/**
 * The stand-in model's probabilities under the place prior of the photo's EXIF position
 * (45° N 6° E: Europe, where the wolf lives in parts only, weight 0.8): 0.41234, 0.3 × 0.8,
 * 0.2, 0.08766, normalised.
 */
const EUROPE_TOP = [
  { speciesId: 'renard', probability: 0.4387 },
  { speciesId: 'loup', probability: 0.2553 },
  { speciesId: 'chien', probability: 0.2128 },
];

describe('identifyFootprint storage consistency', () => {
  it('stores a metadata-free photo, a thumbnail, then the record', async () => {
    const { deps, objects, records } = fakes(false);
    const res = await identifyFootprint(
      { uid: 'uid1', anonymous: false },
      { photo: await photo(), location: null, takenAt: null, shareForTraining: false },
      deps,
    );
    expect([...objects.keys()].sort()).toEqual([
      'users/uid1/observations/obs123/photo.jpg',
      'users/uid1/observations/obs123/thumb.jpg',
    ]);
    const stored = await sharp(objects.get('users/uid1/observations/obs123/photo.jpg')).metadata();
    expect(stored.exif).toBeUndefined();
    expect(Math.max(stored.width ?? 0, stored.height ?? 0)).toBe(1600);
    const thumb = await sharp(objects.get('users/uid1/observations/obs123/thumb.jpg')).metadata();
    expect(Math.max(thumb.width ?? 0, thumb.height ?? 0)).toBe(256);
    expect(res).toMatchObject({
      observationId: 'obs123',
      verdict: 'uncertain',
      top: EUROPE_TOP,
      location: { lat: 45, lng: 6 },
      locationSource: 'exif',
      model: { version: 'v-test' },
    });
    expect(res.photoUrl).toMatch(
      /^http:\/\/127\.0\.0\.1:9199\/v0\/b\/demo\.appspot\.com\/o\/users%2Fuid1%2Fobservations%2Fobs123%2Fphoto\.jpg\?alt=media&token=[0-9a-f-]{36}$/,
    );
    // Renard roux at 43,9 %: a possible lead, the question to answer, no stated coverage.
    expect(res.hint).toMatch(/^Piste possible : Renard roux \(43,9\s%\), sans certitude\./u);
    expect(res.hint).toContain('Espèces possibles : Renard roux, ');
    expect(res.hint).toContain('répondez à la question proposée');
    // The dialogue's part: no fitted parameters (the stand-in model has none), so candidates
    // without a stated coverage; the question to ask next; the zone of the EXIF position.
    expect(res.candidates.coverage).toBeNull();
    expect(res.candidates.speciesIds.slice(0, 3)).toEqual(['renard', 'loup', 'chien']);
    expect(res.nextQuestion?.text.length).toBeGreaterThan(10);
    expect(res.zone).toEqual({ id: 'europe', label: 'Europe' });
    expect(res.answers).toEqual({});
    expect(res.photos).toEqual([
      expect.objectContaining({ index: 0, photoUrl: res.photoUrl, region: null }),
    ]);
    expect(records()[0]).toMatchObject({
      speciesId: 'renard',
      speciesNameFr: 'Renard roux',
      photoPath: 'users/uid1/observations/obs123/photo.jpg',
      thumbnailPath: 'users/uid1/observations/obs123/thumb.jpg',
      feedback: null,
    });
  });

  it('records the consent; a shared observation joins the review queue in the same write', async () => {
    const unshared = fakes(false);
    const res = await identifyFootprint(
      { uid: 'uid1', anonymous: false },
      { photo: await photo(), location: null, takenAt: null, shareForTraining: false },
      unshared.deps,
    );
    expect(res.shareForTraining).toBe(false);
    expect(unshared.records()[0]).toMatchObject({
      shareForTraining: false,
      shareForTrainingAt: null,
    });
    expect(unshared.candidates()).toEqual([]);

    const shared = fakes(false);
    await identifyFootprint(
      { uid: 'uid1', anonymous: false },
      { photo: await photo(), location: null, takenAt: null, shareForTraining: true },
      shared.deps,
    );
    expect(shared.records()[0]).toMatchObject({ shareForTraining: true });
    expect(shared.candidates()).toEqual([
      expect.objectContaining({
        ownerUid: 'uid1',
        observationId: 'obs123',
        status: 'pending',
        photoPath: 'users/uid1/observations/obs123/photo.jpg',
        top: EUROPE_TOP,
        verdict: 'uncertain',
        predictedSpeciesId: 'renard',
        correctedSpeciesId: null,
        proposedSpeciesId: 'renard',
        disagreement: false,
        modelVersion: 'v-test',
      }),
    ]);
  });

  it('applies the client rules to EXIF values: a 1901 camera date is not stored', async () => {
    // Issue 13, finding 10: a client takenAt before 1990 was refused but EXIF 1901 was stored.
    const { deps, records } = fakes(false);
    const oldClock = await sharp({
      create: { width: 800, height: 600, channels: 3, background: '#6b5030' },
    })
      .jpeg()
      .withExif({ IFD2: { DateTimeOriginal: '1901:01:01 10:00:00' } })
      .toBuffer();
    const res = await identifyFootprint(
      { uid: 'anon1', anonymous: true },
      { photo: oldClock, location: null, takenAt: null, shareForTraining: false },
      deps,
    );
    expect(res.takenAt).toBeNull();
    expect(records()[0]).toMatchObject({ takenAt: null, anonymous: true });
  });

  it('deletes both objects again when the record cannot be written', async () => {
    const { deps, objects, records } = fakes(true);
    await expect(
      identifyFootprint(
        { uid: 'uid1', anonymous: false },
        { photo: await photo(), location: null, takenAt: null, shareForTraining: false },
        deps,
      ),
    ).rejects.toThrow('firestore unavailable');
    expect(objects.size).toBe(0);
    expect(records()).toHaveLength(0);
  });

  it('refuses the record once the account’s erasure has begun and deletes its photos (issue 20, finding 2)', async () => {
    const { deps, objects, documents, records, candidates } = fakes(false);
    const stored: string[] = [];
    const err = await identifyFootprint(
      { uid: 'uid1', anonymous: false },
      { photo: await photo(), location: null, takenAt: null, shareForTraining: true },
      {
        ...deps,
        // The erasure starts while the photos are being stored (its marker lands first).
        beforeRecord: async () => {
          stored.push(...objects.keys());
          documents.set(`${ERASED_ACCOUNTS_COLLECTION}/${erasureMarkerId('uid1')}`, {});
        },
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpsError);
    expect(err).toMatchObject({ code: 'unauthenticated', message: ACCOUNT_ERASED_FR });
    expect(stored).toHaveLength(2);
    expect(objects.size).toBe(0);
    expect(records()).toHaveLength(0);
    expect(candidates()).toHaveLength(0);
  });
  it('refuses in French a photo that a decoder cannot read after the inspector, never internal (issue 20, finding 14)', async () => {
    const { deps, objects, records } = fakes(false);
    const model = await deps.engine.model();
    deps.engine = {
      model: async () => ({ ...model, predict: () => Promise.reject(corruptImage()) }),
    };
    const err = await identifyFootprint(
      { uid: 'uid1', anonymous: false },
      { photo: await photo(), location: null, takenAt: null, shareForTraining: false },
      deps,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpsError);
    expect(err).toMatchObject({
      code: 'invalid-argument',
      message: "L'image est illisible ou endommagée.",
      details: { reason: 'corrupt' },
    });
    expect([...objects.keys()]).toEqual([]);
    expect(records()).toEqual([]);
  });
});
