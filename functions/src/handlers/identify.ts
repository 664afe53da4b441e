import { randomUUID } from 'node:crypto';
import { FieldValue, Timestamp, type Firestore } from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import sharp from 'sharp';
import { COLLECTIONS, observationPhotoPaths, type Species } from '@wildlens/shared';
import type { Bucket } from '../firebase.js';
import { errorSummary, fail } from '../common/errors.js';
import { extractExifInfo } from '../images/exif.js';
import { ImageRejection, inspectImage, normaliseToJpeg } from '../images/inspect.js';
import type { ModelPrediction, ServingModel } from '../engine/model-engine.js';
import type { SpeciesSheet } from './species.js';
import { downloadUrl, storageApiOrigin } from '../common/download-url.js';
import {
  DeadlineExceededError,
  FIRESTORE_DEADLINE_MS,
  retryTransient,
  withDeadline,
} from '../common/transient.js';

export { downloadUrl, storageApiOrigin };

export type Verdict = ModelPrediction['verdict'];

export interface ObservationLocation {
  lat: number;
  lng: number;
  accuracyM?: number;
}

/** A validated identification request, whatever the transport (callable or multipart). */
export interface IdentifyInput {
  image: Buffer;
  location: ObservationLocation | null;
  takenAt: Date | null;
}

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
  /** Consumes one identification of the user's quota; throws resource-exhausted past it. */
  rateLimit?: (uid: string) => Promise<void>;
}

export interface IdentifyResponse {
  observationId: string;
  verdict: Verdict;
  top: { speciesId: string; probability: number }[];
  species: SpeciesSheet | null;
  hint: string | null;
  imageUrl: string;
  thumbnailUrl: string;
  location: ObservationLocation | null;
  locationSource: 'client' | 'exif' | null;
  takenAt: string | null;
  model: { version: string };
}

export const THUMBNAIL_SIDE = 256;
/** Dates further in the future than this are refused (clock skew, time zones). */
const FUTURE_TOLERANCE_MS = 24 * 60 * 60 * 1000;
const OLDEST_TAKEN_AT = Date.UTC(1990, 0, 1);

// ---------------------------------------------------------------------------------------------
// Input validation (pure)
// ---------------------------------------------------------------------------------------------

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** `{ lat, lng, accuracyM? }` → validated location; null/undefined → null. */
export function parseLocation(value: unknown): ObservationLocation | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    fail('invalid-argument', 'location doit être un objet { lat, lng, accuracyM? }.');
  }
  const { lat, lng, accuracyM } = value as Record<string, unknown>;
  if (!isFiniteNumber(lat) || lat < -90 || lat > 90) {
    fail('invalid-argument', 'location.lat doit être un nombre entre -90 et 90.');
  }
  if (!isFiniteNumber(lng) || lng < -180 || lng > 180) {
    fail('invalid-argument', 'location.lng doit être un nombre entre -180 et 180.');
  }
  if (
    accuracyM !== undefined &&
    accuracyM !== null &&
    (!isFiniteNumber(accuracyM) || accuracyM < 0)
  ) {
    fail('invalid-argument', 'location.accuracyM doit être un nombre positif (mètres).');
  }
  return isFiniteNumber(accuracyM) ? { lat, lng, accuracyM } : { lat, lng };
}

/** ISO 8601 date, not in the future by more than a day; null/undefined → null. */
export function parseTakenAt(value: unknown, now: Date): Date | null {
  if (value === undefined || value === null) return null;
  const iso = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
  if (typeof value !== 'string' || !iso.test(value.trim())) {
    fail(
      'invalid-argument',
      'takenAt doit être une date ISO 8601, par exemple « 2026-05-01T10:30:00Z ».',
    );
  }
  const date = new Date(value.trim());
  if (Number.isNaN(date.getTime())) fail('invalid-argument', 'takenAt n’est pas une date valide.');
  if (date.getTime() > now.getTime() + FUTURE_TOLERANCE_MS) {
    fail('invalid-argument', 'takenAt est dans le futur : vérifiez la date de votre appareil.');
  }
  if (date.getTime() < OLDEST_TAKEN_AT) {
    fail('invalid-argument', 'takenAt est trop ancien (avant 1990).');
  }
  return date;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DATA_URL_PREFIX = /^data:image\/[a-z+.-]+;base64,/i;

/** Base64 (optionally a data: URL) → bytes, refusing oversize payloads before decoding. */
export function decodeBase64Image(value: unknown, maxBytes: number): Buffer {
  if (value === undefined || value === null || value === '') {
    fail('invalid-argument', 'Aucune photo reçue : le champ image (base64) est obligatoire.', {
      reason: 'empty',
    });
  }
  if (typeof value !== 'string') {
    fail('invalid-argument', 'Le champ image doit être une chaîne base64 (JPEG, PNG ou WebP).');
  }
  const body = value.replace(DATA_URL_PREFIX, '').replace(/\s+/g, '');
  const mb = Math.round(maxBytes / (1024 * 1024));
  if (Math.floor((body.length * 3) / 4) > maxBytes + 2) {
    fail('invalid-argument', `L'image dépasse la taille maximale de ${mb} Mo.`, {
      reason: 'too_large',
    });
  }
  if (body.length % 4 === 1 || !BASE64.test(body)) {
    fail('invalid-argument', 'Le champ image n’est pas un base64 valide.');
  }
  const bytes = Buffer.from(body, 'base64');
  if (bytes.length === 0) {
    fail('invalid-argument', 'Aucune photo reçue : le champ image est vide.', { reason: 'empty' });
  }
  return bytes;
}

/** Validates the callable payload `{ image, location?, takenAt? }`. */
export function parseIdentifyRequest(data: unknown, now: Date, maxBytes: number): IdentifyInput {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    fail(
      'invalid-argument',
      'Requête invalide : un objet { image, location?, takenAt? } est attendu.',
    );
  }
  const { image, location, takenAt } = data as Record<string, unknown>;
  return {
    image: decodeBase64Image(image, maxBytes),
    location: parseLocation(location),
    takenAt: parseTakenAt(takenAt, now),
  };
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
  tips.push('reprenez l’empreinte de plus près, entière dans le cadre, vue de dessus');
  return `Identification incertaine : ${tips.join(', ')}. Une règle ou un objet posé à côté aide à juger la taille.`;
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
    let sheet: SpeciesSheet | null = null;
    if (snap.exists) {
      const { datasetLabels: _internal, ...rest } = snap.data() as Species;
      sheet = rest;
    }
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
 * Identifies one footprint photo for `uid`: validates the image, runs the model on the
 * original bytes while the stored copies (metadata-free JPEG + thumbnail) are produced,
 * writes both objects, then the observation record last. If the record cannot be written the
 * objects are deleted again, so a photo never exists without its record nor the reverse.
 */
export async function identifyFootprint(
  uid: string,
  input: IdentifyInput,
  deps: IdentifyDeps,
): Promise<IdentifyResponse> {
  const started = Date.now();
  // Quota first: a flood of requests costs one Firestore transaction each, not a decode.
  await deps.rateLimit?.(uid);
  try {
    await inspectImage(input.image, deps.limits);
  } catch (err) {
    if (err instanceof ImageRejection) imageRejectionError(err);
    throw err;
  }
  const model = await deps.engine.model();

  // Decoding for storage (sharp thread pool) overlaps inference (tfjs on the main thread).
  const [stored, prediction, exif, small] = await Promise.allSettled([
    normaliseToJpeg(input.image, {
      maxSide: deps.limits.photoMaxSide,
      maxPixels: deps.limits.maxPixels,
      quality: 85,
    }),
    model.predict(input.image),
    input.location && input.takenAt
      ? Promise.resolve({ location: null, takenAt: null })
      : extractExifInfo(input.image),
    makeThumbnail(input.image, deps.limits.maxPixels),
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
  const exifInfo = exif.status === 'fulfilled' ? exif.value : { location: null, takenAt: null };

  const location = input.location ?? exifInfo.location;
  const locationSource = input.location ? 'client' : exifInfo.location ? 'exif' : null;
  const now = deps.now();
  const exifTakenAt =
    exifInfo.takenAt && exifInfo.takenAt.getTime() <= now.getTime() + FUTURE_TOLERANCE_MS
      ? exifInfo.takenAt
      : null;
  const takenAt = input.takenAt ?? exifTakenAt;

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

  let imageUrl: string;
  let thumbnailUrl: string;
  try {
    [imageUrl, thumbnailUrl] = await Promise.all([
      save(paths.photo, photo.data),
      save(paths.thumbnail, thumbnail),
    ]);
    const created = ref.create({
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
      imageUrl,
      thumbnailUrl,
      photo: { width: photo.width, height: photo.height, bytes: photo.data.length },
      feedback: null,
    });
    try {
      await withDeadline(created, FIRESTORE_DEADLINE_MS, 'observation write');
    } catch (err) {
      // The write may still land once Firestore answers again: queue its undo, so a late
      // record never points at the photos deleted below.
      if (err instanceof DeadlineExceededError) {
        void created.then(() => ref.delete()).catch(() => undefined);
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
    imageUrl,
    thumbnailUrl,
    location,
    locationSource,
    takenAt: takenAt?.toISOString() ?? null,
    model: { version: model.version },
  };
}
