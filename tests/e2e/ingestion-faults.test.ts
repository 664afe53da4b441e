/**
 * Faults around the ingestion trigger, with the real handler against the real emulators:
 * the same event delivered several times (retries, concurrent redelivery), and a run killed
 * between its Storage write and its Firestore write, then retried; a connection reset in the
 * middle of an ingestion; uploads whose event was lost, picked up by the sweeper.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ingestUpload,
  ingestUploadRetrying,
  reingestStaleUploads,
  saveWithDownloadUrl,
  uploadIdFor,
  type IngestionDeps,
} from '../../functions/src/handlers/ingestion.js';
import { getStorage } from 'firebase-admin/storage';
import {
  PROJECT_ID,
  adminApp,
  adminBucket,
  adminDb,
  closeAdmin,
  eventually,
  ingestionRecord,
} from './support.js';
import { connectionResetError } from '../helpers/connection-reset.js';

afterAll(closeAdmin);

const deps = (): IngestionDeps => ({
  db: adminDb(),
  bucket: adminBucket(),
  limits: { maxBytes: 20 * 1024 * 1024, maxPixels: 40_000_000, minSide: 64, maxSide: 1024 },
  now: () => new Date(),
});

async function photo(seed: number): Promise<Buffer> {
  return sharp({
    create: {
      width: 200,
      height: 150,
      channels: 3,
      background: { r: seed % 255, g: (seed * 7) % 255, b: (seed * 13) % 255 },
      noise: { type: 'gaussian', mean: 100, sigma: 30 },
    },
  })
    .jpeg()
    .toBuffer();
}

describe('ingestion faults', () => {
  it('one event delivered three times at once (trigger + 2 redeliveries) gives one result', async () => {
    const data = await photo(11);
    const hash = createHash('sha256').update(data).digest('hex');
    const name = `incoming/ours/retries/${hash.slice(0, 10)}.jpg`;
    await adminBucket().file(name).save(data, { resumable: false });
    const object = { name, size: data.length };
    // The real trigger fires too: three concurrent deliveries of one event.
    const outcomes = await Promise.all([
      ingestUpload(object, deps()),
      ingestUpload(object, deps()),
    ]);
    for (const o of outcomes) expect(['accepted', 'skipped']).toContain(o.status);
    const record = await ingestionRecord(name);
    expect(record).toMatchObject({ status: 'accepted', trainingImageId: hash });
    const images = await adminDb()
      .collection('trainingImages')
      .where('uploadId', '==', uploadIdFor(name))
      .get();
    expect(images.size).toBe(1);
    const [files] = await adminBucket().getFiles({ prefix: `training/ours/${hash}` });
    expect(files).toHaveLength(1);
    // A late redelivery after everything is done: recognised, nothing changes.
    expect((await ingestUpload(object, deps())).status).toMatch(/accepted|skipped/);
    expect((await adminDb().collection('uploads').where('objectName', '==', name).get()).size).toBe(
      1,
    );
  });

  it('a run killed after its Storage write and before its Firestore write is completed by the retry', async () => {
    const data = await photo(23);
    const hash = createHash('sha256').update(data).digest('hex');
    const name = `incoming/lapin/crash/${hash.slice(0, 10)}.jpg`;
    // What the killed run left: the training object, no record (and the upload still there).
    const leftover = await sharp({
      create: { width: 300, height: 100, channels: 3, background: '#336' },
    })
      .jpeg()
      .toBuffer();
    await saveWithDownloadUrl(adminDb(), adminBucket(), `training/lapin/${hash}.jpg`, leftover);
    expect((await adminDb().doc(`trainingImages/${hash}`).get()).exists).toBe(false);
    // The retry (the trigger, on the re-sent upload) finishes the job consistently.
    await adminBucket().file(name).save(data, { resumable: false });
    const record = await ingestionRecord(name);
    expect(record).toMatchObject({ status: 'accepted', trainingImageId: hash });
    const image = await adminDb().doc(`trainingImages/${hash}`).get();
    const thumb = await fetch(image.get('imageUrl') as string);
    expect(thumb.status).toBe(200);
    // The object now holds this upload's normalised bytes, not the half-written leftover.
    const stored = await sharp(Buffer.from(await thumb.arrayBuffer())).metadata();
    expect([stored.width, stored.height]).toEqual([200, 150]);
  });

  it('a connection reset while reading the upload is retried in process, not lost', async () => {
    const data = await photo(37);
    const hash = createHash('sha256').update(data).digest('hex');
    const name = `incoming/loup/reset/${hash.slice(0, 10)}.jpg`;
    // The first download of this object fails the way the Storage emulator failed under a
    // burst (a real reset socket); every other call goes to the real emulator. Everything is
    // prepared before the upload so the handler below starts before the trigger finishes.
    const reset = await connectionResetError();
    let failures = 0;
    const bucket = adminBucket();
    const flakyBucket = new Proxy(bucket, {
      get(target, prop, receiver) {
        if (prop !== 'file') return Reflect.get(target, prop, receiver) as unknown;
        return (path: string) => {
          const file = target.file(path);
          if (path !== name) return file;
          return new Proxy(file, {
            get(f, p, r) {
              if (p === 'download' && failures === 0) {
                return () => {
                  failures++;
                  return Promise.reject(reset);
                };
              }
              return Reflect.get(f, p, r) as unknown;
            },
          });
        };
      },
    });
    await adminBucket().file(name).save(data, { resumable: false });
    const outcome = await ingestUploadRetrying(
      { name, size: data.length },
      { ...deps(), bucket: flakyBucket },
      { attempts: 3, baseDelayMs: 10 },
    );
    expect(failures).toBe(1);
    // The real trigger may have won the race: either way one accepted upload, one image.
    expect(['accepted', 'skipped']).toContain(outcome.status);
    const record = await ingestionRecord(name);
    expect(record).toMatchObject({ status: 'accepted', trainingImageId: hash });
    expect((await adminDb().doc(`trainingImages/${hash}`).get()).exists).toBe(true);
  });

  it('the sweeper ingests uploads left under incoming/, racing the trigger without duplicates', async () => {
    const names: string[] = [];
    const hashes: string[] = [];
    for (let i = 0; i < 5; i++) {
      const data = await photo(100 + i);
      hashes.push(createHash('sha256').update(data).digest('hex'));
      const name = `incoming/renard/swept/p${i}.jpg`;
      names.push(name);
      await adminBucket().file(name).save(data, { resumable: false });
    }
    // Objects younger than the threshold are left to their event.
    const young = await reingestStaleUploads(deps(), { olderThanMs: 3_600_000 });
    expect(young.outcomes).toEqual({});
    // Threshold 0: everything still waiting is taken now, while the trigger runs too.
    await reingestStaleUploads(deps(), { olderThanMs: 0, pageSize: 2 });
    await eventually(async () => {
      const [left] = await adminBucket().getFiles({ prefix: 'incoming/renard/swept/' });
      return left.length === 0 ? true : undefined;
    });
    for (const [i, name] of names.entries()) {
      const uploads = await adminDb().collection('uploads').where('objectName', '==', name).get();
      expect(uploads.size).toBe(1);
      expect(uploads.docs[0]?.get('status')).toBe('accepted');
      const images = await adminDb()
        .collection('trainingImages')
        .where('uploadId', '==', uploadIdFor(name))
        .get();
      expect(images.size).toBe(1);
      expect(images.docs[0]?.id).toBe(hashes[i]);
    }
    const [training] = await adminBucket().getFiles({ prefix: 'training/renard/' });
    expect(training.map((f) => f.name).sort()).toEqual(
      hashes.map((h) => `training/renard/${h}.jpg`).sort(),
    );
  });

  it('the same photo under three labels at once leaves one training object, the recorded one', async () => {
    // Issue 13, finding 8: each loser of the race left training/<its label>/<sha>.jpg behind.
    const data = await photo(51);
    const hash = createHash('sha256').update(data).digest('hex');
    const labels = ['chat', 'chien', 'loup'];
    const names = labels.map((l) => `incoming/${l}/three-labels/${hash.slice(0, 10)}.jpg`);
    await Promise.all(names.map((n) => adminBucket().file(n).save(data, { resumable: false })));
    // The triggers race each other; the handler joins the race for each object as well.
    await Promise.all(names.map((n) => ingestUpload({ name: n, size: data.length }, deps())));
    const records = await Promise.all(names.map((n) => ingestionRecord(n)));
    expect(records.map((r) => r.status).sort()).toEqual(['accepted', 'conflict', 'conflict']);
    const image = await adminDb().doc(`trainingImages/${hash}`).get();
    // The same for the thumbnails each of them wrote next to its training object.
    for (const [prefix, field] of [
      ['training/', 'storagePath'],
      ['thumbnails/', 'thumbnailPath'],
    ] as const) {
      const mine = async () =>
        (await adminBucket().getFiles({ prefix }))[0]
          .map((f) => f.name)
          .filter((n) => n.includes(hash));
      await eventually(async () => ((await mine()).length === 1 ? true : undefined), {
        what: `one object of ${hash} under ${prefix}`,
      });
      expect(await mine()).toEqual([image.get(field)]);
    }
  });

  it('every object under incoming/ ends with a record and leaves it, however deep, and the sweeper pages through them all', async () => {
    // A bucket without trigger, so the sweeper alone meets these objects.
    const bucket = getStorage(adminApp()).bucket(`${PROJECT_ID}-sweeper-test`);
    const odd = ['incoming/loose.jpg', 'incoming/renard/a/b/deep.jpg', 'incoming/renard/'];
    const normal = ['incoming/renard/lot/p1.jpg', 'incoming/loup/lot/p2.jpg'];
    for (const [i, name] of [...odd, ...normal].entries()) {
      await bucket.file(name).save(await photo(200 + i), { resumable: false });
    }
    const sweep = await reingestStaleUploads(
      { ...deps(), bucket },
      { olderThanMs: 0, pageSize: 2 },
    );
    expect(sweep.scanned).toBe(5);
    expect(sweep.outcomes).toEqual({ rejected: 3, accepted: 2 });
    for (const name of odd) {
      const record = await ingestionRecord(name);
      expect(record).toMatchObject({ status: 'rejected', reasonCode: 'unexpected_path' });
      expect(String(record.reason)).toMatch(/Emplacement inattendu/);
    }
    const [left] = await bucket.getFiles({ prefix: 'incoming/' });
    expect(left).toEqual([]);
  });

  it('training download tokens cannot be computed from the path, and stay valid when the object is written again', async () => {
    // Issue 13, finding 9: tokens were sha256("wildlens-download-token:" + path), which anyone
    // holding the photo could compute. They are keyed by a random per-project secret now.
    const path = `training/renard/${'ab'.repeat(32)}.jpg`;
    const bytes = await photo(77);
    const first = await saveWithDownloadUrl(adminDb(), adminBucket(), path, bytes);
    const derived = createHash('sha256').update(`wildlens-download-token:${path}`).digest('hex');
    expect(first).not.toContain(derived.slice(0, 8));
    const again = await Promise.all([
      saveWithDownloadUrl(adminDb(), adminBucket(), path, bytes),
      saveWithDownloadUrl(adminDb(), adminBucket(), path, bytes),
    ]);
    expect(again).toEqual([first, first]);
    expect((await fetch(first)).status).toBe(200);
    const other = await saveWithDownloadUrl(
      adminDb(),
      adminBucket(),
      `training/loup/${'cd'.repeat(32)}.jpg`,
      bytes,
    );
    expect(new URL(other).searchParams.get('token')).not.toBe(
      new URL(first).searchParams.get('token'),
    );
  });
});
