/**
 * The stored copies of a hiker's photo (identifyFootprint, addObservationPhoto): a
 * metadata-free JPEG and a thumbnail, each with a Firebase download token, under the owner's
 * prefix. Objects are written before the record that names them and deleted again when that
 * record cannot be written, so a photo never exists without its record nor the reverse.
 */
import { randomUUID } from 'node:crypto';
import * as logger from 'firebase-functions/logger';
import sharp from 'sharp';
import type { Bucket } from '../firebase.js';
import { errorSummary } from '../common/errors.js';
import { downloadUrl } from '../common/download-url.js';
import { DeadlineExceededError, FIRESTORE_DEADLINE_MS, withDeadline } from '../common/transient.js';
import { PREVIEW_SIDE, normaliseToJpeg } from '../images/inspect.js';
import type { StoredPhoto } from './observation-evidence.js';

/** The thumbnail is the inspector's preview. */
export const THUMBNAIL_SIDE = PREVIEW_SIDE;

export interface PhotoCopies {
  photo: { data: Buffer; width: number; height: number };
  thumbnail: Buffer;
  /** Mean luminance of the thumbnail (0..255). */
  brightness: number;
}

/**
 * The stored photo (oriented, longest side ≤ photoMaxSide, no metadata) and its thumbnail, the
 * inspector's preview: every copy is decoded under the one photo policy (issue 20, finding 14).
 * Throws ImageRejection when the image cannot be decoded.
 */
export async function photoCopies(
  image: Buffer,
  limits: { photoMaxSide: number; maxPixels: number },
  preview: Buffer,
): Promise<PhotoCopies> {
  const [photo, stats] = await Promise.all([
    normaliseToJpeg(image, {
      maxSide: limits.photoMaxSide,
      maxPixels: limits.maxPixels,
      quality: 85,
    }),
    sharp(preview).greyscale().stats(),
  ]);
  return { photo, thumbnail: preview, brightness: stats.channels[0]?.mean ?? 128 };
}

/**
 * Saves a photo's two copies (each with its own download token) and describes them as the
 * observation's `photos[]` entry names them: the one place identifyFootprint and
 * addObservationPhoto build that entry.
 */
export async function storePhotoCopies(
  bucket: Bucket,
  copies: PhotoCopies,
  at: { photoId: string | null; paths: { photo: string; thumbnail: string } },
  ownerUid: string,
  storageOrigin: string | undefined,
  described: Pick<StoredPhoto, 'region' | 'evidence' | 'addedAt'>,
): Promise<StoredPhoto> {
  const [photoUrl, thumbnailUrl] = await Promise.all([
    savePhotoObject(bucket, at.paths.photo, copies.photo.data, ownerUid, storageOrigin),
    savePhotoObject(bucket, at.paths.thumbnail, copies.thumbnail, ownerUid, storageOrigin),
  ]);
  return {
    photoId: at.photoId,
    photoPath: at.paths.photo,
    thumbnailPath: at.paths.thumbnail,
    photoUrl,
    thumbnailUrl,
    width: copies.photo.width,
    height: copies.photo.height,
    bytes: copies.photo.data.length,
    brightness: copies.brightness,
    ...described,
  };
}

/** Saves one JPEG under a new name with a download token; its download URL. */
export async function savePhotoObject(
  bucket: Bucket,
  name: string,
  data: Buffer,
  ownerUid: string,
  storageOrigin?: string,
): Promise<string> {
  const token = randomUUID();
  // The object name is new, so the Storage client's retry of a dropped write is safe
  // (common/storage-retries.ts).
  await bucket.file(name).save(data, {
    resumable: false,
    contentType: 'image/jpeg',
    metadata: {
      cacheControl: 'private, max-age=31536000',
      metadata: { firebaseStorageDownloadTokens: token, ownerUid },
    },
  });
  return downloadUrl(bucket.name, name, token, storageOrigin);
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 404;
}

/** Deletes objects a refused write had stored (already gone is fine; failures are logged). */
export async function deleteObjectsQuietly(bucket: Bucket, names: string[]): Promise<void> {
  await Promise.all(
    names.map(async (name) => {
      try {
        await bucket.file(name).delete();
      } catch (err) {
        if (!isNotFound(err))
          logger.warn('identify.cleanup_failed', { name, ...errorSummary(err) });
      }
    }),
  );
}

/**
 * Waits for the write of the record that names freshly stored objects, within Firestore's
 * deadline. Past it the caller deletes its objects; the write may still land once Firestore
 * answers again, so its undo is queued: a late record never points at deleted objects.
 */
export async function commitOrUndo<T>(
  write: Promise<T>,
  undo: () => Promise<unknown>,
  what: string,
): Promise<T> {
  try {
    return await withDeadline(write, FIRESTORE_DEADLINE_MS, what);
  } catch (err) {
    if (err instanceof DeadlineExceededError) {
      void write.then(undo).catch(() => undefined);
    }
    throw err;
  }
}
