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
import { adminBucket, adminDb, closeAdmin, eventually, ingestionRecord } from './support.js';
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
    await saveWithDownloadUrl(adminBucket(), `training/lapin/${hash}.jpg`, leftover);
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
    const young = await reingestStaleUploads(deps(), { olderThanMs: 3_600_000, limit: 100 });
    expect(young.outcomes).toEqual({});
    // Threshold 0: everything still waiting is taken now, while the trigger runs too.
    await reingestStaleUploads(deps(), { olderThanMs: 0, limit: 100 });
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
});
