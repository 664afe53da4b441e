import {
  FieldValue,
  Timestamp,
  type DocumentData,
  type DocumentReference,
  type Firestore,
} from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import { COLLECTIONS, observationPhotoPaths } from '@wildlens/shared';
import type { Bucket } from '../firebase.js';
import type { Caller } from '../common/caller.js';
import { fail } from '../common/errors.js';
import { extractExifInfo, type ExifInfo } from '../images/exif.js';
import {
  identifyFootprintRequest,
  locationSchema,
  parseInput,
  takenAtProblem,
  type IdentifyInput,
  type ObservationLocation,
} from '../api/schemas.js';
import { ImageRejection, inspectImage, type InspectedImage } from '../images/inspect.js';
import type { ModelPrediction, ServingModel } from '../engine/model-engine.js';
import { toSheet, type SpeciesSheet } from './species.js';
import { candidateFromObservation, candidateRef, queuesForReview } from './review.js';
import { runUnlessErased } from './erasure-marker.js';
import { downloadUrl, storageApiOrigin } from '../common/download-url.js';
import { FIRESTORE_DEADLINE_MS, withDeadline } from '../common/transient.js';
import {
  assessedFields,
  dialogueView,
  evidenceOf,
  parametersSnapshot,
  requireRegionFits,
  type DialogueView,
} from './observation-evidence.js';
import {
  THUMBNAIL_SIDE,
  commitOrUndo,
  deleteObjectsQuietly,
  photoCopies,
  storePhotoCopies,
} from './photo-store.js';

export { downloadUrl, storageApiOrigin, THUMBNAIL_SIDE };

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

/** The identification's result: today's fields plus the dialogue's (DialogueView). */
export interface IdentifyResponse extends DialogueView {
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

/** The callable payload `{ photo, region?, location?, takenAt? }`, through the API's schemas. */
export function parseIdentifyRequest(data: unknown, now: Date, maxBytes: number): IdentifyInput {
  const request = parseInput(
    identifyFootprintRequest({ maxBytes }, () => now),
    data,
  );
  return {
    photo: request.photo,
    region: request.region ?? null,
    location: request.location ?? null,
    takenAt: request.takenAt ?? null,
    shareForTraining: request.shareForTraining ?? false,
  };
}

/**
 * EXIF values under the same rules as the client's fields (INPUT_RULES): a position or a date
 * the API would refuse from a client (a 1901 camera clock, a 10 km "accuracy") is not stored.
 */
export function trustedExif(exif: ExifInfo, now: Date): ExifInfo {
  const location = exif.location && locationSchema.safeParse(exif.location).success;
  const takenAt = exif.takenAt && takenAtProblem(exif.takenAt, now) === null;
  return { location: location ? exif.location : null, takenAt: takenAt ? exif.takenAt : null };
}

/** HttpsError for a refused image, keeping the machine-readable reason in details. */
export function imageRejectionError(rejection: ImageRejection): never {
  fail('invalid-argument', rejection.messageFr, { reason: rejection.code });
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
 * Identifies one footprint photo for the caller: validates the image (and the framed region
 * against its size), runs the model on the original bytes (on the framed print only when a
 * region is given) while the stored copies (metadata-free JPEG + thumbnail) are produced,
 * assesses the observation (assessObservation: the place's prior, the verdict, the candidate
 * set, the next question), writes both objects, then the observation record last. If the
 * record cannot be written (or the account's erasure has begun: erasure-marker.ts) the objects
 * are deleted again, so a photo never exists without its record nor the reverse.
 * The caller's quota has been consumed before (consumeIdentifyBudget), ahead of any parsing.
 */
export async function identifyFootprint(
  caller: Caller,
  input: IdentifyInput,
  deps: IdentifyDeps,
): Promise<IdentifyResponse> {
  const ref = deps.db
    .collection(COLLECTIONS.users)
    .doc(caller.uid)
    .collection(COLLECTIONS.observations)
    .doc();
  const outcome = await recordIdentification(caller, input, deps, { ref, photoId: null });
  if (outcome.status === 'present') throw new Error(`observation ${ref.id} already exists`);
  return outcome.response;
}

/** Where an identification is recorded (identifyFootprint, syncOfflineObservations). */
export interface RecordTarget {
  ref: DocumentReference;
  /**
   * null: the first photo's usual names (photo.jpg, thumb.jpg), for a record no one else can
   * write; an id: names of this attempt's own, for a record a concurrent duplicate may write.
   */
  photoId: string | null;
  /** Fields the record gets besides the identification's (an offline observation's answer). */
  extra?: DocumentData;
  /** Write nothing when the record exists already (read in the record's transaction). */
  onlyIfAbsent?: boolean;
}

export type RecordOutcome =
  | { status: 'stored'; response: IdentifyResponse; record: DocumentData }
  /** The record was there already (onlyIfAbsent): this attempt stored nothing. */
  | { status: 'present'; record: DocumentData };

/** identifyFootprint's work, recorded at `target` (see identifyFootprint). */
export async function recordIdentification(
  caller: Caller,
  input: IdentifyInput,
  deps: IdentifyDeps,
  target: RecordTarget,
): Promise<RecordOutcome> {
  const started = Date.now();
  const { uid } = caller;
  const region = input.region ?? null;
  let inspected: InspectedImage;
  try {
    inspected = await inspectImage(input.photo, deps.limits);
  } catch (err) {
    if (err instanceof ImageRejection) imageRejectionError(err);
    throw err;
  }
  if (region) requireRegionFits(region, inspected.width, inspected.height);
  const model = await deps.engine.model();

  // Decoding for storage (sharp thread pool) overlaps inference (tfjs on the main thread).
  const [copies, prediction, exif] = await Promise.allSettled([
    photoCopies(input.photo, deps.limits, inspected.preview),
    model.predict(input.photo, region ? { region } : {}),
    input.location && input.takenAt
      ? Promise.resolve({ location: null, takenAt: null })
      : extractExifInfo(input.photo),
  ]);
  // The inspector decoded the photo under the policy every decoder uses, so none should refuse
  // it now; if one does all the same, the photo is at fault: the French rejection, never
  // `internal`.
  for (const outcome of [copies, prediction]) {
    if (outcome.status === 'rejected' && outcome.reason instanceof ImageRejection) {
      imageRejectionError(outcome.reason);
    }
  }
  if (copies.status === 'rejected') throw copies.reason;
  if (prediction.status === 'rejected') throw prediction.reason;
  const exifInfo = trustedExif(
    exif.status === 'fulfilled' ? exif.value : { location: null, takenAt: null },
    deps.now(),
  );

  const location = input.location ?? exifInfo.location;
  const locationSource = input.location ? 'client' : exifInfo.location ? 'exif' : null;
  const takenAt = input.takenAt ?? exifInfo.takenAt;

  const { ref } = target;
  const paths = observationPhotoPaths(uid, ref.id, target.photoId ?? undefined);
  const evidence = evidenceOf(prediction.value, model.version);
  const parameters = parametersSnapshot(model.dialogue);

  let record: DocumentData;
  let present: DocumentData | null = null;
  try {
    const first = await storePhotoCopies(
      deps.bucket,
      copies.value,
      { photoId: target.photoId, paths },
      uid,
      deps.storageOrigin,
      { region, evidence, addedAt: Timestamp.fromDate(deps.now()) },
    );
    const { photo } = copies.value;
    const state = { photos: [first], answers: {}, location, parameters };
    const assessed = assessedFields(state);
    record = {
      ...assessed,
      answers: {},
      photos: [first],
      dialogueParameters: parameters,
      location,
      locationSource,
      takenAt: takenAt ? Timestamp.fromDate(takenAt) : null,
      createdAt: FieldValue.serverTimestamp(),
      model: { version: model.version },
      // The first photo, as every observation has (history thumbnail, review candidate).
      photoPath: first.photoPath,
      thumbnailPath: first.thumbnailPath,
      photoUrl: first.photoUrl,
      thumbnailUrl: first.thumbnailUrl,
      photo: { width: photo.width, height: photo.height, bytes: photo.data.length },
      feedback: null,
      // Anonymous accounts' observations are erased after a retention period (purge job).
      anonymous: caller.anonymous,
      // The user's consent to training use (never assumed), and when it was given.
      shareForTraining: input.shareForTraining,
      shareForTrainingAt: input.shareForTraining ? FieldValue.serverTimestamp() : null,
      ...target.extra,
    };
    await deps.beforeRecord?.();
    // A shared observation joins the review queue in the same write: never one without the
    // other (unless it is no footprint: queuesForReview). Refused once the account's erasure
    // has begun (its photos are then deleted below).
    const review =
      input.shareForTraining && queuesForReview(record)
        ? candidateRef(deps.db, uid, ref.id)
        : undefined;
    const written = record;
    present = await commitOrUndo(
      runUnlessErased(deps.db, uid, async (tx) => {
        if (target.onlyIfAbsent) {
          const existing = await tx.get(ref);
          if (existing.exists) return existing.data() ?? {};
        }
        tx.create(ref, written);
        if (review) tx.create(review, candidateFromObservation(uid, ref.id, written));
        return null;
      }),
      // A late record would point at the photos deleted below.
      () => Promise.all([ref.delete(), review?.delete()]),
      'observation write',
    );
  } catch (err) {
    await deleteObjectsQuietly(deps.bucket, [paths.photo, paths.thumbnail]);
    throw err;
  }
  if (present) {
    // Another attempt recorded it first: this one's own objects go.
    await deleteObjectsQuietly(deps.bucket, [paths.photo, paths.thumbnail]);
    return { status: 'present', record: present };
  }

  const speciesId = record.speciesId as string | null;
  const species = speciesId ? await deps.species(speciesId) : null;
  logger.info('identify.done', {
    uid,
    observationId: ref.id,
    verdict: record.verdict,
    speciesId,
    probability: (record.top as { probability: number }[])[0]?.probability ?? null,
    framed: region !== null,
    modelVersion: model.version,
    timingsMs: { ...prediction.value.timingsMs, total: Date.now() - started },
  });
  const response: IdentifyResponse = {
    observationId: ref.id,
    verdict: record.verdict as Verdict,
    top: record.top as IdentifyResponse['top'],
    species,
    hint: record.hint as string | null,
    photoUrl: record.photoUrl as string,
    thumbnailUrl: record.thumbnailUrl as string,
    location,
    locationSource,
    takenAt: takenAt?.toISOString() ?? null,
    model: { version: model.version },
    shareForTraining: input.shareForTraining,
    ...dialogueView(record),
  };
  return { status: 'stored', response, record };
}
