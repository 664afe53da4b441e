import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { signOut } from 'firebase/auth';
import { httpsCallable, type FunctionsError } from 'firebase/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentifyResponse } from '../../functions/src/handlers/identify.js';
import type { ObservationDetail } from '../../functions/src/handlers/observation-actions.js';
import {
  CALL_OPTIONS,
  FUNCTIONS_ORIGIN,
  adminBucket,
  adminDb,
  client,
  closeAdmin,
  signedInClient,
  type Client,
  downloadObject,
} from './support.js';
import {
  footprintPhotos,
  hasFootprints,
  installFixtureModel,
  syntheticFootprint,
  trainFixtureModel,
  type FixtureModel,
} from './model-fixture.js';
import { NEEDS } from '../requirements.js';
import { HANG_BOUND_MS } from '../hang-bound.js';

afterAll(closeAdmin);

type Payload = Record<string, unknown>;
const identifyWith = (c: Client) =>
  httpsCallable<Payload, IdentifyResponse>(c.functions, 'identifyFootprint', {
    timeout: HANG_BOUND_MS,
  });
const b64 = (buf: Buffer) => buf.toString('base64');

async function errorOf(promise: Promise<unknown>): Promise<FunctionsError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the call should have failed').toBeDefined();
  return err as FunctionsError;
}

/** A noisy JPEG (a valid photo the model can run on) of the given size. */
async function noisePhoto(width: number, height: number, quality = 85): Promise<Buffer> {
  return sharp({
    create: {
      width,
      height,
      channels: 3,
      background: '#7a6048',
      noise: { type: 'gaussian', mean: 110, sigma: 40 },
    },
  })
    .jpeg({ quality })
    .toBuffer();
}

/** A photo to identify: a real footprint when ../shared is present, else a synthetic one. */
async function samplePhoto(): Promise<Buffer> {
  const [first] = await footprintPhotos(1);
  return first ? readFile(first.file) : syntheticFootprint(0, 1);
}

async function objectExists(path: string): Promise<boolean> {
  return (await adminBucket().file(path).exists())[0];
}

describe('before any model is trained', () => {
  beforeAll(async () => {
    await adminDb().doc('config/activeModel').delete();
  });

  it('rejects unauthenticated calls', async () => {
    const err = await errorOf(identifyWith(client())({ photo: b64(await noisePhoto(200, 150)) }));
    expect(err.code).toBe('functions/unauthenticated');
  });

  it('answers failed-precondition with a French message (callable) and 503 (HTTPS)', async () => {
    const user = await signedInClient();
    const err = await errorOf(identifyWith(user)({ photo: b64(await noisePhoto(200, 150)) }));
    expect(err.code).toBe('functions/failed-precondition');
    expect(err.message).toMatch(/^Aucun modèle n'est encore entraîné/);

    const form = new FormData();
    form.append(
      'photo',
      new Blob([new Uint8Array(await noisePhoto(200, 150))], { type: 'image/jpeg' }),
      'p.jpg',
    );
    const res = await fetch(`${FUNCTIONS_ORIGIN}/identify`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await user.auth.currentUser?.getIdToken()}` },
      body: form,
    });
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('failed-precondition');
  });
});

describe('identification with a trained model', () => {
  let fixture: FixtureModel;
  let user: Client & { uid: string };

  beforeAll(async () => {
    if (!hasFootprints) {
      console.warn(
        '[identify e2e] ../shared/datasets/footprints-dev absent : modèle entraîné sur des images synthétiques, tests sur photos réelles ignorés.',
      );
    }
    fixture = await trainFixtureModel({ log: (m) => console.log(`[identify e2e] ${m}`) });
    await installFixtureModel(adminBucket(), adminDb(), fixture);
    user = await signedInClient();
  });

  it('identifies a photo and answers the documented shape', async () => {
    const { data } = await identifyWith(user)({ photo: b64(await samplePhoto()) });
    expect(data.observationId).toMatch(/^[A-Za-z0-9]{20}$/);
    expect(['identified', 'uncertain', 'not_a_footprint']).toContain(data.verdict);
    expect(data.top).toHaveLength(3);
    expect(data.top[0]!.probability).toBeGreaterThanOrEqual(data.top[1]!.probability);
    for (const t of data.top) expect(fixture.labels).toContain(t.speciesId);
    expect(data.model).toEqual({ version: fixture.version });
    if (data.verdict === 'not_a_footprint') {
      expect(data.species).toBeNull();
    } else {
      expect(data.species?.speciesId).toBe(data.top[0]!.speciesId);
      expect(data.species).not.toHaveProperty('datasetLabels');
    }
    if (data.verdict === 'identified') expect(data.hint).toBeNull();
    else expect(data.hint).toMatch(/empreinte/);

    for (const [url, maxSide] of [
      [data.photoUrl, 1600],
      [data.thumbnailUrl, 256],
    ] as const) {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
      expect(meta.format).toBe('jpeg');
      expect(Math.max(meta.width ?? 0, meta.height ?? 0)).toBeLessThanOrEqual(maxSide);
    }
    const record = await adminDb()
      .doc(`users/${user.uid}/observations/${data.observationId}`)
      .get();
    expect(record.get('photoPath')).toBe(
      `users/${user.uid}/observations/${data.observationId}/photo.jpg`,
    );
    expect(record.get('model')).toEqual({ version: fixture.version });
    expect(Object.keys(record.get('probabilities') as object)).toHaveLength(fixture.labels.length);
  });

  it.skipIf(!hasFootprints)(
    'identifies real footprint photos of several species',
    NEEDS.shared,
    async () => {
      // Photos the fixture was trained on: a working pipeline must recognise most of them.
      const photos = await footprintPhotos(1);
      let correct = 0;
      for (const photo of photos) {
        const { data } = await identifyWith(user)({ photo: b64(await readFile(photo.file)) });
        if (data.top[0]?.speciesId === photo.speciesId) correct++;
      }
      expect(correct).toBeGreaterThanOrEqual(Math.ceil(photos.length * 0.6));
    },
  );

  it('strips EXIF from the stored photo and takes GPS and time from EXIF when the client sent none', async () => {
    const withGps = await sharp(await samplePhoto())
      .jpeg()
      .withExif({
        IFD2: { DateTimeOriginal: '2025:09:14 08:30:00', OffsetTimeOriginal: '+02:00' },
        IFD3: {
          GPSLatitudeRef: 'N',
          GPSLatitude: '45/1 30/1 0/1',
          GPSLongitudeRef: 'E',
          GPSLongitude: '6/1 15/1 0/1',
        },
      })
      .toBuffer();
    expect((await sharp(withGps).metadata()).exif).toBeDefined();
    const { data } = await identifyWith(user)({ photo: b64(withGps) });
    expect(data.locationSource).toBe('exif');
    expect(data.location).toEqual({ lat: 45.5, lng: 6.25 });
    expect(data.takenAt).toBe('2025-09-14T06:30:00.000Z');

    const stored = await downloadObject(
      `users/${user.uid}/observations/${data.observationId}/photo.jpg`,
    );
    const meta = await sharp(stored).metadata();
    expect(meta.exif).toBeUndefined();
    expect(meta.xmp).toBeUndefined();
    expect(stored.includes(Buffer.from('GPS'))).toBe(false);

    const clientSide = await identifyWith(user)({
      photo: b64(withGps),
      location: { lat: 43.1, lng: 5.9, accuracyM: 8 },
      takenAt: '2026-01-02T03:04:05Z',
    });
    expect(clientSide.data.locationSource).toBe('client');
    expect(clientSide.data.location).toEqual({ lat: 43.1, lng: 5.9, accuracyM: 8 });
    expect(clientSide.data.takenAt).toBe('2026-01-02T03:04:05.000Z');
  });

  it('lists, reads, annotates and deletes observations; nobody else can touch them', async () => {
    const owner = await signedInClient();
    const other = await signedInClient();
    const { data } = await identifyWith(owner)({
      photo: b64(await samplePhoto()),
      location: { lat: 46.2, lng: 6.1 },
    });
    const id = data.observationId;

    type Page = {
      items: { observationId: string; thumbnailUrl: string | null; probability: number }[];
    };
    const list = await httpsCallable<unknown, Page>(
      owner.functions,
      'listObservations',
      CALL_OPTIONS,
    )({});
    expect(list.data.items[0]).toMatchObject({
      observationId: id,
      thumbnailUrl: data.thumbnailUrl,
    });

    const get = (c: Client) =>
      httpsCallable<Payload, ObservationDetail>(c.functions, 'getObservation', CALL_OPTIONS);
    const del = (c: Client) =>
      httpsCallable<Payload, unknown>(c.functions, 'deleteObservation', CALL_OPTIONS);
    const feedback = (c: Client) =>
      httpsCallable<Payload, ObservationDetail>(
        c.functions,
        'setObservationFeedback',
        CALL_OPTIONS,
      );

    const detail = await get(owner)({ observationId: id });
    expect(detail.data).toMatchObject({
      observationId: id,
      verdict: data.verdict,
      top: data.top,
      photoUrl: data.photoUrl,
      location: { lat: 46.2, lng: 6.1 },
      locationSource: 'client',
      model: { version: fixture.version },
      feedback: null,
    });

    const annotated = await feedback(owner)({ observationId: id, correctedSpeciesId: 'loup' });
    expect(annotated.data.feedback?.correctedSpeciesId).toBe('loup');
    expect(
      (await errorOf(feedback(owner)({ observationId: id, correctedSpeciesId: 'dragon' }))).code,
    ).toBe('functions/invalid-argument');

    // Another user: the id resolves under their own prefix, so it simply does not exist.
    expect((await errorOf(get(other)({ observationId: id }))).code).toBe('functions/not-found');
    expect((await errorOf(del(other)({ observationId: id }))).code).toBe('functions/not-found');
    expect(
      (await errorOf(feedback(other)({ observationId: id, correctedSpeciesId: 'chat' }))).code,
    ).toBe('functions/not-found');
    const photo = `users/${owner.uid}/observations/${id}/photo.jpg`;
    const thumb = `users/${owner.uid}/observations/${id}/thumb.jpg`;
    expect(await objectExists(photo)).toBe(true);
    expect(await objectExists(thumb)).toBe(true);

    await del(owner)({ observationId: id });
    expect((await adminDb().doc(`users/${owner.uid}/observations/${id}`).get()).exists).toBe(false);
    expect(await objectExists(photo)).toBe(false);
    expect(await objectExists(thumb)).toBe(false);
    expect((await errorOf(del(owner)({ observationId: id }))).code).toBe('functions/not-found');
    expect((await errorOf(get(owner)({ observationId: '../x' }))).code).toBe(
      'functions/invalid-argument',
    );

    await signOut(owner.auth);
    expect((await errorOf(get(owner)({ observationId: id }))).code).toBe(
      'functions/unauthenticated',
    );
  });

  it('rejects each kind of bad input with invalid-argument and a French message', async () => {
    const call = identifyWith(user);
    const noisy = await noisePhoto(400, 300);
    const truncated = noisy.subarray(0, Math.floor(noisy.length / 2));
    const onePixel = await sharp({
      create: { width: 1, height: 1, channels: 3, background: '#000' },
    })
      .png()
      .toBuffer();
    const bomb = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#333' } })
      .png()
      .toBuffer();
    bomb.writeUInt32BE(30000, 16);
    bomb.writeUInt32BE(30000, 20);
    const text = Buffer.from('Ceci est un fichier texte renommé en photo.jpg\n'.repeat(20));

    const cases: [string, Payload, string | undefined][] = [
      ['JPEG tronqué', { photo: b64(truncated) }, 'corrupt'],
      ['texte renommé .jpg', { photo: b64(text) }, 'unsupported_format'],
      ['image 1x1', { photo: b64(onePixel) }, 'too_small'],
      ['dimensions énormes', { photo: b64(bomb) }, 'too_many_pixels'],
      ['charge vide', { photo: '' }, 'empty'],
      ['sans photo', {}, 'empty'],
      ['photo non chaîne', { photo: 12345 }, undefined],
      ['location non objet', { photo: b64(noisy), location: 'Grenoble' }, undefined],
      ['lat hors bornes', { photo: b64(noisy), location: { lat: 120, lng: 0 } }, undefined],
      ['takenAt non chaîne', { photo: b64(noisy), takenAt: 1714557600000 }, undefined],
      ['takenAt futur', { photo: b64(noisy), takenAt: '2999-01-01T00:00:00Z' }, undefined],
    ];
    for (const [what, payload, reason] of cases) {
      const err = await errorOf(call(payload));
      expect(err.code, what).toBe('functions/invalid-argument');
      expect(err.message, what).toMatch(/[éèàê]|image|photo|doit/);
      if (reason)
        expect((err.details as { reason?: string } | undefined)?.reason, what).toBe(reason);
    }
  });

  describe('HTTPS endpoint POST /identify', () => {
    const url = `${FUNCTIONS_ORIGIN}/identify`;
    const form = (photo: Buffer, name = 'photo.jpg', type = 'image/jpeg') => {
      const f = new FormData();
      f.append('photo', new Blob([new Uint8Array(photo)], { type }), name);
      return f;
    };
    const token = async () => `Bearer ${await user.auth.currentUser?.getIdToken()}`;

    it('identifies a multipart photo with the same JSON as the callable', async () => {
      const body = form(await samplePhoto());
      body.append('lat', '44.9');
      body.append('lng', '5.7');
      body.append('takenAt', '2026-02-03T10:00:00Z');
      const res = await fetch(url, {
        method: 'POST',
        headers: { Authorization: await token() },
        body,
      });
      expect(res.status).toBe(200);
      const data = (await res.json()) as IdentifyResponse;
      expect(data.top).toHaveLength(3);
      expect(data.model.version).toBe(fixture.version);
      expect(data.location).toEqual({ lat: 44.9, lng: 5.7 });
      expect(data.takenAt).toBe('2026-02-03T10:00:00.000Z');
      const record = await adminDb()
        .doc(`users/${user.uid}/observations/${data.observationId}`)
        .get();
      expect(record.exists).toBe(true);
    });

    it('answers 401, 405, 413, 415 and 400 with French JSON errors and no stack trace', async () => {
      const photo = await noisePhoto(300, 200);
      const expectError = async (res: Response, status: number, code: string) => {
        expect(res.status).toBe(status);
        const text = await res.text();
        expect(text).not.toMatch(/at .*\.(js|ts):\d+/);
        const body = JSON.parse(text) as { error: { code: string; message: string } };
        expect(body.error.code).toBe(code);
        expect(body.error.message.length).toBeGreaterThan(10);
      };
      await expectError(
        await fetch(url, { method: 'POST', body: form(photo) }),
        401,
        'unauthenticated',
      );
      await expectError(
        await fetch(url, {
          method: 'POST',
          headers: { Authorization: 'Bearer faux' },
          body: form(photo),
        }),
        401,
        'unauthenticated',
      );
      await expectError(
        await fetch(url, { headers: { Authorization: await token() } }),
        405,
        'method-not-allowed',
      );
      await expectError(
        await fetch(url, {
          method: 'POST',
          headers: { Authorization: await token() },
          body: form(Buffer.from('juste du texte\n'.repeat(50)), 'photo.jpg', 'image/jpeg'),
        }),
        415,
        'invalid-argument',
      );
      await expectError(
        await fetch(url, {
          method: 'POST',
          headers: { Authorization: await token(), 'Content-Type': 'application/json' },
          body: JSON.stringify({ photo: 'x' }),
        }),
        415,
        'unsupported-media-type',
      );
      await expectError(
        await fetch(url, {
          method: 'POST',
          headers: { Authorization: await token() },
          body: form(Buffer.concat([photo, Buffer.alloc(11 * 1024 * 1024)])),
        }),
        413,
        'invalid-argument',
      );
      const badLat = form(photo);
      badLat.append('lat', 'nord');
      badLat.append('lng', '5');
      await expectError(
        await fetch(url, {
          method: 'POST',
          headers: { Authorization: await token() },
          body: badLat,
        }),
        400,
        'invalid-argument',
      );
    });

    it('allows CORS only from the hosting origins', async () => {
      const preflight = (origin: string) =>
        fetch(url, {
          method: 'OPTIONS',
          headers: {
            Origin: origin,
            'Access-Control-Request-Method': 'POST',
            'Access-Control-Request-Headers': 'authorization',
          },
        });
      const allowed = await preflight('http://127.0.0.1:5000');
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:5000');
      const foreign = await preflight('https://evil.example.com');
      expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    });
  });
});
