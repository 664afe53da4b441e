import { randomUUID } from 'node:crypto';
import { FieldValue, Timestamp, type Firestore } from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import sharp from 'sharp';
import { COLLECTIONS, observationPhotoPaths } from '@wildlens/shared';
import type { Bucket } from '../firebase.js';
import type { Caller } from '../common/caller.js';
import { errorSummary, fail } from '../common/errors.js';
import { extractExifInfo, type ExifInfo } from '../images/exif.js';
import {
  identifyFootprintRequest,
  locationSchema,
  parseInput,
  takenAtProblem,
  type IdentifyInput,
  type ObservationLocation,
} from '../api/schemas.js';
import { ImageRejection, inspectImage, normaliseToJpeg } from '../images/inspect.js';
import type { ModelPrediction, ServingModel } from '../engine/model-engine.js';
import { toSheet, type SpeciesSheet } from './species.js';
import { candidateFromObservation, candidateRef } from './review.js';
import { runUnlessErased } from './erasure-marker.js';
import { downloadUrl, storageApiOrigin } from '../common/download-url.js';
import {
  DeadlineExceededError,
  FIRESTORE_DEADLINE_MS,
  retryTransient,
  withDeadline,
} from '../common/transient.js';

export { downloadUrl, storageApiOrigin };

export type Verdict = ModelPrediction['verdict'];

/** A validated identification request, whatever the transport (callable or multipart). */
export type { IdentifyInput, ObservationLocation };

export interface IdentifyLimits {
  maxBytes: number;
  maxPixels: number;
  minSide: number;
  photoMaxSide: number;
}

export interface IdentifyDeps {
  db: Firestore;
  bucket: Bucket;
  engine: { model(): Promise<ServingModel> };
  limits: IdentifyLimits;
  now: () => Date;
  /** Fact sheet of a species (cached per instance), null when unknown. */
  species: (id: string) => Promise<SpeciesSheet | null>;
  /** Origin of the Firebase Storage download API (the emulator's when it runs). */
  storageOrigin?: string;
  /** Tests only: awaited once the photos are stored, before the record is written. */
  beforeRecord?: () => Promise<void>;
}

export interface IdentifyResponse {
  observationId: string;
  verdict: Verdict;
  top: { speciesId: string; probability: number }[];
  species: SpeciesSheet | null;
  hint: string | null;
  photoUrl: string;
  thumbnailUrl: string;
  location: ObservationLocation | null;
  locationSource: 'client' | 'exif' | null;
  takenAt: string | null;
  model: { version: string };
  shareForTraining: boolean;
}

export const THUMBNAIL_SIDE = 256;

/** The callable payload `{ photo, location?, takenAt? }`, through the API's schemas. */
export function parseIdentifyRequest(data: unknown, now: Date, maxBytes: number): IdentifyInput {
  const request = parseInput(
    identifyFootprintRequest({ maxBytes }, () => now),
    data,
  );
  return {
    photo: request.photo,
    location: request.location ?? null,
    takenAt: request.takenAt ?? null,
    shareForTraining: request.shareForTraining ?? false,
  };
}

/**
 * EXIF values under the same rules as the client's fields (INPUT_RULES): a position or a date
 * the API would refuse from a client (a 1901 camera clock, a 10 km "accuracy") is not stored.
 */
function trustedExif(exif: ExifInfo, now: Date): ExifInfo {
  const location = exif.location && locationSchema.safeParse(exif.location).success;
  const takenAt = exif.takenAt && takenAtProblem(exif.takenAt, now) === null;
  return { location: location ? exif.location : null, takenAt: takenAt ? exif.takenAt : null };
}

/** HttpsError for a refused image, keeping the machine-readable reason in details. */
export function imageRejectionError(rejection: ImageRejection): never {
  fail('invalid-argument', rejection.messageFr, { reason: rejection.code });
}

// ---------------------------------------------------------------------------------------------
// Hints (pure)
// ---------------------------------------------------------------------------------------------

export interface PhotoQuality {
  /** Shorter side of the (oriented) photo, pixels. */
  shortSide: number;
  /** Mean luminance 0..255. */
  brightness: number;
}

/** A French tip for the user when the result is not a confident identification. */
export function chooseHint(verdict: Verdict, quality: PhotoQuality): string | null {
  if (verdict === 'identified') return null;
  const tips: string[] = [];
  if (quality.brightness < 60) tips.push('prenez la photo avec plus de lumière (évitez l’ombre)');
  else if (quality.brightness > 220) tips.push('évitez le plein soleil et les reflets');
  if (quality.shortSide < 480) tips.push('rapprochez-vous ou utilisez une meilleure résolution');
  if (verdict === 'not_a_footprint') {
    tips.push('cadrez une seule empreinte entière, vue de dessus, qui remplit la photo');
    return `Aucune empreinte reconnue sur cette photo : ${tips.join(', ')}.`;
  }
  // What helps the model most on field photos: one print filling the frame, seen from above,
  // with a known size beside it.
  tips.push(
    'rapprochez-vous d’une seule empreinte, entière dans le cadre, photographiée bien au-dessus',
  );
  return `Identification incertaine : ${tips.join(', ')}. Posez une règle ou un objet connu à côté pour donner l’échelle.`;
}

// ---------------------------------------------------------------------------------------------
// Species fact sheets (cached per instance: the catalogue changes only on seed/deploy)
// ---------------------------------------------------------------------------------------------

export function cachedSpeciesLookup(
  db: () => Firestore,
  ttlMs = 5 * 60 * 1000,
): (id: string) => Promise<SpeciesSheet | null> {
  const cache = new Map<string, { at: number; sheet: SpeciesSheet | null }>();
  return async (id) => {
    const hit = cache.get(id);
    if (hit && Date.now() - hit.at < ttlMs) return hit.sheet;
    const snap = await withDeadline(
      db().collection(COLLECTIONS.species).doc(id).get(),
      FIRESTORE_DEADLINE_MS,
      'species sheet',
    );
    const sheet = snap.exists ? toSheet(id, snap.data() ?? {}) : null;
    cache.set(id, { at: Date.now(), sheet });
    return sheet;
  };
}

// ---------------------------------------------------------------------------------------------
// Identification
// ---------------------------------------------------------------------------------------------

/**
 * Thumbnail straight from the original (JPEG shrink-on-load makes this cheap), so it is
 * produced in parallel with the stored photo and the inference; plus its mean luminance.
 */
async function makeThumbnail(
  image: Buffer,
  maxPixels: number,
): Promise<{ data: Buffer; brightness: number }> {
  const data = await sharp(image, { limitInputPixels: maxPixels, failOn: 'none' })
    .rotate()
    .resize({ width: THUMBNAIL_SIDE, height: THUMBNAIL_SIDE, fit: 'inside' })
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .jpeg({ quality: 80 })
    .toBuffer();
  const stats = await sharp(data).greyscale().stats();
  return { data, brightness: stats.channels[0]?.mean ?? 128 };
}

const round4 = (p: number): number => Math.round(p * 1e4) / 1e4;

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 404;
}

async function deleteQuietly(bucket: Bucket, name: string): Promise<void> {
  try {
    await bucket.file(name).delete();
  } catch (err) {
    if (!isNotFound(err)) logger.warn('identify.cleanup_failed', { name, ...errorSummary(err) });
  }
}

/**
 * Identifies one footprint photo for the caller: validates the image, runs the model on the
 * original bytes while the stored copies (metadata-free JPEG + thumbnail) are produced,
 * writes both objects, then the observation record last. If the record cannot be written (or
 * the account's erasure has begun: erasure-marker.ts) the objects are deleted again, so a
 * photo never exists without its record nor the reverse.
 * The caller's quota has been consumed before (consumeIdentifyBudget), ahead of any parsing.
 */
export async function identifyFootprint(
  caller: Caller,
  input: IdentifyInput,
  deps: IdentifyDeps,
): Promise<IdentifyResponse> {
  const started = Date.now();
  const { uid } = caller;
  try {
    await inspectImage(input.photo, deps.limits);
  } catch (err) {
    if (err instanceof ImageRejection) imageRejectionError(err);
    throw err;
  }
  const model = await deps.engine.model();

  // Decoding for storage (sharp thread pool) overlaps inference (tfjs on the main thread).
  const [stored, prediction, exif, small] = await Promise.allSettled([
    normaliseToJpeg(input.photo, {
      maxSide: deps.limits.photoMaxSide,
      maxPixels: deps.limits.maxPixels,
      quality: 85,
    }),
    model.predict(input.photo),
    input.location && input.takenAt
      ? Promise.resolve({ location: null, takenAt: null })
      : extractExifInfo(input.photo),
    makeThumbnail(input.photo, deps.limits.maxPixels),
  ]);
  if (stored.status === 'rejected') {
    if (stored.reason instanceof ImageRejection) imageRejectionError(stored.reason);
    throw stored.reason;
  }
  if (prediction.status === 'rejected') {
    // The storage decode succeeded, so the image itself is fine: a model failure is ours.
    throw prediction.reason;
  }
  if (small.status === 'rejected') throw small.reason;
  const photo = stored.value;
  const result = prediction.value;
  const { data: thumbnail, brightness } = small.value;
  const exifInfo = trustedExif(
    exif.status === 'fulfilled' ? exif.value : { location: null, takenAt: null },
    deps.now(),
  );

  const location = input.location ?? exifInfo.location;
  const locationSource = input.location ? 'client' : exifInfo.location ? 'exif' : null;
  const takenAt = input.takenAt ?? exifInfo.takenAt;

  const top = result.top.slice(0, 3).map((t) => ({
    speciesId: t.speciesId,
    probability: round4(t.probability),
  }));
  const bestId = top[0]?.speciesId ?? null;
  const footprint = result.verdict !== 'not_a_footprint';
  const species = footprint && bestId ? await deps.species(bestId) : null;
  const hint = chooseHint(result.verdict, {
    shortSide: Math.min(photo.width, photo.height),
    brightness,
  });

  const ref = deps.db
    .collection(COLLECTIONS.users)
    .doc(uid)
    .collection(COLLECTIONS.observations)
    .doc();
  const paths = observationPhotoPaths(uid, ref.id);
  const save = async (name: string, data: Buffer): Promise<string> => {
    const token = randomUUID();
    // The object name is new, so a retried write is safe.
    await retryTransient(
      () =>
        deps.bucket.file(name).save(data, {
          resumable: false,
          contentType: 'image/jpeg',
          metadata: {
            cacheControl: 'private, max-age=31536000',
            metadata: { firebaseStorageDownloadTokens: token, ownerUid: uid },
          },
        }),
      { attempts: 3, baseDelayMs: 100 },
    );
    return downloadUrl(deps.bucket.name, name, token, deps.storageOrigin);
  };

  let photoUrl: string;
  let thumbnailUrl: string;
  try {
    [photoUrl, thumbnailUrl] = await Promise.all([
      save(paths.photo, photo.data),
      save(paths.thumbnail, thumbnail),
    ]);
    const record = {
      verdict: result.verdict,
      speciesId: footprint ? bestId : null,
      speciesNameFr: species?.nameFr ?? null,
      top,
      probabilities: Object.fromEntries(
        Object.entries(result.probabilities).map(([k, v]) => [k, round4(v)]),
      ),
      hint,
      location,
      locationSource,
      takenAt: takenAt ? Timestamp.fromDate(takenAt) : null,
      createdAt: FieldValue.serverTimestamp(),
      model: { version: model.version },
      photoPath: paths.photo,
      thumbnailPath: paths.thumbnail,
      photoUrl,
      thumbnailUrl,
      photo: { width: photo.width, height: photo.height, bytes: photo.data.length },
      feedback: null,
      // Anonymous accounts' observations are erased after a retention period (purge job).
      anonymous: caller.anonymous,
      // The user's consent to training use (never assumed), and when it was given.
      shareForTraining: input.shareForTraining,
      shareForTrainingAt: input.shareForTraining ? FieldValue.serverTimestamp() : null,
    };
    await deps.beforeRecord?.();
    // A shared observation joins the review queue in the same write: never one without the
    // other. Refused once the account's erasure has begun (its photos are then deleted below).
    const review = input.shareForTraining ? candidateRef(deps.db, uid, ref.id) : undefined;
    const created = runUnlessErased(deps.db, uid, async (tx) => {
      tx.create(ref, record);
      if (review) tx.create(review, candidateFromObservation(uid, ref.id, record));
    });
    try {
      await withDeadline(created, FIRESTORE_DEADLINE_MS, 'observation write');
    } catch (err) {
      // The write may still land once Firestore answers again: queue its undo, so a late
      // record never points at the photos deleted below.
      if (err instanceof DeadlineExceededError) {
        void created
          .then(() => Promise.all([ref.delete(), review?.delete()]))
          .catch(() => undefined);
      }
      throw err;
    }
  } catch (err) {
    await Promise.all([
      deleteQuietly(deps.bucket, paths.photo),
      deleteQuietly(deps.bucket, paths.thumbnail),
    ]);
    throw err;
  }

  logger.info('identify.done', {
    uid,
    observationId: ref.id,
    verdict: result.verdict,
    speciesId: bestId,
    probability: top[0]?.probability ?? null,
    modelVersion: model.version,
    timingsMs: { ...result.timingsMs, total: Date.now() - started },
  });
  return {
    observationId: ref.id,
    verdict: result.verdict,
    top,
    species,
    hint,
    photoUrl,
    thumbnailUrl,
    location,
    locationSource,
    takenAt: takenAt?.toISOString() ?? null,
    model: { version: model.version },
    shareForTraining: input.shareForTraining,
  };
}
