/**
 * A training image's stored copies (issue 23): the normalised JPEG and its 256 px thumbnail, each
 * with its own download token, with real sharp; the thumbnail's path derives from the image's.
 */
import type { Firestore } from 'firebase-admin/firestore';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { trainingImagePath, trainingThumbnailPath } from '@wildlens/shared';
import type { Bucket } from '../firebase.js';
import { downloadTokenOf } from '../common/download-url.js';
import { decodePreview, inspectImage, normaliseToJpeg } from '../images/inspect.js';
import { deleteTrainingCopies, downloadTokenFor, saveTrainingCopies } from './ingestion.js';

const KEY = Buffer.alloc(32, 7);
const LIMITS = { maxBytes: 20 << 20, maxPixels: 40_000_000, minSide: 64 };

/** A bucket and the one document saveWithDownloadUrl reads (the token key), in memory. */
function fakes() {
  const objects = new Map<string, { data: Buffer; token: string }>();
  const bucket = {
    name: 'demo-wildlens.appspot.com',
    file: (name: string) => ({
      save: async (data: Buffer, options: { metadata: { metadata: Record<string, string> } }) =>
        void objects.set(name, {
          data,
          token: options.metadata.metadata.firebaseStorageDownloadTokens ?? '',
        }),
      delete: async (options?: { ignoreNotFound?: boolean }) => {
        if (!objects.delete(name) && !options?.ignoreNotFound)
          throw Object.assign(new Error('No such object'), { code: 404 });
      },
    }),
  };
  const db = {
    collection: () => ({
      doc: () => ({
        get: async () => ({ exists: true, get: () => KEY.toString('base64') }),
      }),
    }),
  };
  return { objects, bucket: bucket as unknown as Bucket, db: db as unknown as Firestore };
}

/** A detailed photo (noise compresses badly, like a real one), `width`×`height`. */
async function photo(width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  let x = 2463534242;
  for (let i = 0; i < raw.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    raw[i] = (x & 0x3f) + ((i / 3 / width) % 192);
  }
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 92 })
    .toBuffer();
}

describe('trainingThumbnailPath', () => {
  it('derives the thumbnail from the training image’s path alone', () => {
    const hash = 'ab'.repeat(32);
    expect(trainingThumbnailPath(trainingImagePath('renard', hash))).toBe(
      `thumbnails/training/renard/${hash}.jpg`,
    );
    expect(trainingThumbnailPath(`users/u/observations/o/photo.jpg`)).toBeUndefined();
    expect(trainingThumbnailPath(`thumbnails/training/renard/${hash}.jpg`)).toBeUndefined();
  });
});

describe('a training image’s copies, with real sharp', () => {
  it('ingestion stores the inspector’s preview as a 256 px thumbnail, far lighter than the photo', async () => {
    const original = await photo(2000, 1500);
    const { preview } = await inspectImage(original, LIMITS);
    const normalised = await normaliseToJpeg(original, { maxSide: 1024, maxPixels: 40_000_000 });
    const { objects, bucket, db } = fakes();
    const path = trainingImagePath('renard', 'cd'.repeat(32));
    const copies = await saveTrainingCopies(db, bucket, path, normalised.data, preview);

    expect(copies.thumbnailPath).toBe(trainingThumbnailPath(path));
    expect([...objects.keys()].sort()).toEqual([path, copies.thumbnailPath].sort());
    const stored = objects.get(copies.thumbnailPath);
    const meta = await sharp(stored?.data).metadata();
    expect(meta.format).toBe('jpeg');
    // Long side 256 px: the page shows it at 160 px, on screens up to 1.6× dense.
    expect(Math.max(meta.width ?? 0, meta.height ?? 0)).toBe(256);
    expect((meta.width ?? 0) / (meta.height ?? 1)).toBeCloseTo(2000 / 1500, 1);
    // Far fewer bytes than the stored photo the page showed before (1024 px).
    expect(stored?.data.length ?? Infinity).toBeLessThan(normalised.data.length / 8);

    // Each object has its own token, the HMAC of its own name; each URL carries its object's.
    expect(objects.get(path)?.token).toBe(downloadTokenFor(KEY, path));
    expect(stored?.token).toBe(downloadTokenFor(KEY, copies.thumbnailPath));
    expect(stored?.token).not.toBe(objects.get(path)?.token);
    expect(downloadTokenOf(copies.imageUrl)).toBe(objects.get(path)?.token);
    expect(downloadTokenOf(copies.thumbnailUrl)).toBe(stored?.token);
    expect(copies.thumbnailUrl).toContain(encodeURIComponent(copies.thumbnailPath));

    await deleteTrainingCopies(bucket, path);
    expect(objects.size).toBe(0);
    // Already gone is fine (a retried erasure, an image ingested before thumbnails).
    await expect(deleteTrainingCopies(bucket, path)).resolves.toBeUndefined();
  });

  it('a stored JPEG without a thumbnail gets the same one from the preview (migration, relabel)', async () => {
    const stored = await normaliseToJpeg(await photo(900, 1400), {
      maxSide: 1024,
      maxPixels: 40_000_000,
    });
    const thumbnail = await decodePreview(stored.data, 40_000_000);
    const meta = await sharp(thumbnail).metadata();
    expect([meta.format, meta.height]).toEqual(['jpeg', 256]);
    expect(meta.width).toBeLessThan(256);
    expect(thumbnail.length).toBeLessThan(stored.data.length / 8);
  });

  it('refuses to derive a thumbnail for a path outside training/', async () => {
    const { bucket, db, objects } = fakes();
    await expect(
      saveTrainingCopies(db, bucket, 'rejected/x/y.jpg', Buffer.from('a'), Buffer.from('b')),
    ).rejects.toThrow(/not a training image path/);
    expect(objects.size).toBe(0);
  });
});
