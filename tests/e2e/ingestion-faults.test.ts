/**
 * Faults around the ingestion trigger, with the real handler against the real emulators:
 * the same event delivered several times (retries, concurrent redelivery), and a run killed
 * between its Storage write and its Firestore write, then retried.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ingestUpload,
  saveWithDownloadUrl,
  uploadIdFor,
  type IngestionDeps,
} from '../../functions/src/handlers/ingestion.js';
import { adminBucket, adminDb, closeAdmin, eventually } from './support.js';

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
    const record = await eventually(async () => {
      const s = await adminDb()
        .doc(`uploads/${uploadIdFor(name)}`)
        .get();
      return s.exists ? s.data() : undefined;
    });
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
    const record = await eventually(async () => {
      const s = await adminDb()
        .doc(`uploads/${uploadIdFor(name)}`)
        .get();
      return s.exists ? s.data() : undefined;
    });
    expect(record).toMatchObject({ status: 'accepted', trainingImageId: hash });
    const image = await adminDb().doc(`trainingImages/${hash}`).get();
    const thumb = await fetch(image.get('imageUrl') as string);
    expect(thumb.status).toBe(200);
    // The object now holds this upload's normalised bytes, not the half-written leftover.
    const stored = await sharp(Buffer.from(await thumb.arrayBuffer())).metadata();
    expect([stored.width, stored.height]).toEqual([200, 150]);
  });
});
