/**
 * The dialogue after the first photo (issue 19): refineObservation (answers, a new framing of
 * a stored photo) and addObservationPhoto (up to 5 photos per observation).
 *
 * Without a new region, refineObservation runs no model: it recomputes the result from what
 * the observation stores (observation-evidence.ts). A model pass (a new region, an added
 * photo) spends one identification of the caller's budget, as identifyFootprint does.
 *
 * Concurrency. Every change is one transaction on the observation (runUnlessErased: the
 * account's erasure marker is read in it), which re-reads the record and applies the change to
 * what it finds, so concurrent refinements, additions, feedback and consent never lose each
 * other's writes:
 * - the 5-photo cap is checked inside the transaction; an added photo's objects are named by
 *   the photo's own id (never by its position), written before the transaction, and deleted
 *   again when it is refused (cap, observation deleted, erasure begun, Firestore down);
 * - a deleted observation answers `not-found` and nothing is written (a transaction never
 *   creates a record); its deletion re-reads the record before deleting it and erases any photo
 *   added meanwhile (erasure.ts), so no photo outlives its record;
 * - every photo's evidence comes from one model: a model pass under a model newer than the
 *   observation's re-runs its older photos (on their stored copies, with their framing) and
 *   takes the new model's dialogue parameters; if a concurrent change left photos of two models
 *   the transaction refuses with `aborted` (retry), rather than mix them.
 */
import { randomUUID } from 'node:crypto';
import { Timestamp, type DocumentData, type DocumentReference } from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import {
  COLLECTIONS,
  observationPhotoPaths,
  type DialogueParameters,
  type PhotoRegion,
} from '@wildlens/shared';
import type { Caller } from '../common/caller.js';
import { fail } from '../common/errors.js';
import {
  INPUT_RULES,
  addObservationPhotoRequest,
  parseInput,
  refineObservationRequest,
  type AnswersPatch,
  type ObservationLocation,
} from '../api/schemas.js';
import type { ServingModel } from '../engine/model-engine.js';
import { extractExifInfo } from '../images/exif.js';
import { ImageRejection, inspectImage } from '../images/inspect.js';
import { runUnlessErased } from './erasure-marker.js';
import { imageRejectionError, trustedExif, type IdentifyDeps } from './identify.js';
import {
  assessedFields,
  dialogueState,
  evidenceOf,
  mergeAnswers,
  parametersSnapshot,
  requireRegionFits,
  type StoredEvidence,
  type StoredPhoto,
} from './observation-evidence.js';
import { toDetail, type ObservationDetail } from './observation-actions.js';
import {
  commitOrUndo,
  deleteObjectsQuietly,
  photoCopies,
  storePhotoCopies,
} from './photo-store.js';
import { candidateRef, correctionFields } from './review.js';
import { serveCharged, type IdentifyCharge } from './rate-limit.js';
import type { SpeciesSheet } from './species.js';

export const MAX_PHOTOS = INPUT_RULES.maxPhotosPerObservation;

export interface DialogueDeps extends IdentifyDeps {
  /**
   * Spends one identification of the caller's budget (rate-limit.ts) before a model pass; the
   * charge is given back when the call is not served (serveCharged).
   */
  consumeBudget: (caller: Caller) => Promise<IdentifyCharge>;
  /** Tests only: awaited right before the observation's transaction. */
  beforeCommit?: () => Promise<void>;
}

/** An observation as getObservation shows it, with the fact sheet of its best species. */
export interface ObservationResponse extends ObservationDetail {
  species: SpeciesSheet | null;
}

const NOT_FOUND_FR = 'Observation introuvable.';
const CHANGED_FR =
  'L’observation a changé pendant l’analyse (un nouveau modèle est arrivé) : réessayez.';

function observationRef(deps: Pick<DialogueDeps, 'db'>, uid: string, id: string) {
  return deps.db
    .collection(COLLECTIONS.users)
    .doc(uid)
    .collection(COLLECTIONS.observations)
    .doc(id);
}

async function existingRecord(ref: DocumentReference): Promise<DocumentData> {
  const snap = await ref.get();
  if (!snap.exists) fail('not-found', NOT_FOUND_FR);
  return snap.data() ?? {};
}

/** New evidence for a stored photo, valid while its framing is still `region`. */
interface Reframed {
  photoPath: string;
  region: PhotoRegion | null;
  evidence: StoredEvidence;
  /** The photo was re-run as it was framed: apply only if no one reframed it meanwhile. */
  onlyIfUnchanged: boolean;
}

/** What one call changes; applied by `commitChange` to the record as the transaction reads it. */
interface Change {
  answers?: AnswersPatch;
  reframed?: Reframed[];
  added?: StoredPhoto;
  /** The photo path of an addition to take back (its late write landed after a timeout). */
  removed?: string;
  /** The model of a model pass: every photo's evidence must then be its. */
  model?: { version: string; parameters: DialogueParameters | null };
  /** A place for an observation without one (an added photo's EXIF position). */
  place?: { location: ObservationLocation; locationSource: 'exif' };
}

const sameRegion = (a: PhotoRegion | null, b: PhotoRegion | null): boolean =>
  JSON.stringify(a) === JSON.stringify(b);

function tooManyPhotos(): never {
  fail(
    'failed-precondition',
    `Cette observation a déjà ${MAX_PHOTOS} photos : c’est le maximum. Commencez une nouvelle observation.`,
  );
}

/**
 * Applies `change` to the observation in one transaction (refused once the account's erasure
 * began), recomputes the dialogue from the result and keeps a pending review candidate's
 * view of it up to date. Returns the record as written.
 */
async function commitChange(
  caller: Caller,
  id: string,
  change: Change,
  deps: Pick<DialogueDeps, 'db' | 'now'>,
): Promise<DocumentData> {
  const ref = observationRef(deps, caller.uid, id);
  const candidate = candidateRef(deps.db, caller.uid, id);
  return runUnlessErased(deps.db, caller.uid, async (tx) => {
    const [snap, review] = await tx.getAll(ref, candidate);
    if (!snap?.exists) fail('not-found', NOT_FOUND_FR);
    const data = snap.data() ?? {};
    const state = dialogueState(data);
    let photos = state.photos.map((photo) => {
      const update = change.reframed?.find((r) => r.photoPath === photo.photoPath);
      if (!update || (update.onlyIfUnchanged && !sameRegion(update.region, photo.region)))
        return photo;
      return { ...photo, region: update.region, evidence: update.evidence };
    });
    if (change.removed) photos = photos.filter((p) => p.photoPath !== change.removed);
    if (change.added) {
      if (photos.length >= MAX_PHOTOS) tooManyPhotos();
      photos = [...photos, change.added];
    }
    let parameters = state.parameters;
    let modelVersion = (data.model as { version?: string } | undefined)?.version ?? null;
    if (change.model) {
      const { version } = change.model;
      if (photos.some((p) => p.evidence.modelVersion !== version)) fail('aborted', CHANGED_FR);
      parameters = change.model.parameters;
      modelVersion = version;
    }
    const place =
      change.place && !state.location
        ? change.place
        : { location: data.location ?? null, locationSource: data.locationSource ?? null };
    const next = {
      photos,
      answers: mergeAnswers(state.answers, change.answers),
      location: place.location ? { lat: place.location.lat, lng: place.location.lng } : null,
      parameters,
    };
    const assessed = assessedFields(next);
    const update = {
      ...assessed,
      answers: next.answers,
      photos,
      dialogueParameters: parameters,
      model: { version: modelVersion },
      location: place.location,
      locationSource: place.locationSource,
      updatedAt: Timestamp.fromDate(deps.now()),
    };
    tx.update(ref, update);
    // A pending review shows the refined result; a decided one keeps what was decided on.
    if (review?.exists && review.get('status') === 'pending') {
      const feedback = data.feedback as { correctedSpeciesId?: string } | null | undefined;
      tx.update(candidate, {
        verdict: assessed.verdict,
        top: assessed.top,
        modelVersion,
        ...correctionFields(
          assessed.top[0]?.speciesId ?? null,
          feedback?.correctedSpeciesId ?? null,
        ),
      });
    }
    return { ...data, ...update };
  });
}

async function storedPhotoBytes(deps: Pick<DialogueDeps, 'bucket'>, path: string): Promise<Buffer> {
  try {
    const [bytes] = await deps.bucket.file(path).download();
    return bytes;
  } catch (err) {
    // Its observation was deleted meanwhile.
    if ((err as { code?: unknown }).code === 404) fail('not-found', NOT_FOUND_FR);
    throw err;
  }
}

/** The model's evidence on a stored photo (its copy: oriented, ≤ 1600 px), framed or whole. */
async function storedPhotoEvidence(
  model: ServingModel,
  photo: StoredPhoto,
  region: PhotoRegion | null,
  deps: Pick<DialogueDeps, 'bucket'>,
): Promise<StoredEvidence> {
  const bytes = await storedPhotoBytes(deps, photo.photoPath);
  return evidenceOf(await model.predict(bytes, region ? { region } : {}), model.version);
}

/**
 * The photos whose evidence came from another model than `model`, re-run under it (as they
 * are framed), so that the observation moves to one model as a whole.
 */
async function rerunOlderPhotos(
  model: ServingModel,
  photos: StoredPhoto[],
  except: string[],
  deps: Pick<DialogueDeps, 'bucket'>,
): Promise<Reframed[]> {
  const older = photos.filter(
    (p) => p.evidence.modelVersion !== model.version && !except.includes(p.photoPath),
  );
  return Promise.all(
    older.map(async (photo) => ({
      photoPath: photo.photoPath,
      region: photo.region,
      evidence: await storedPhotoEvidence(model, photo, photo.region, deps),
      onlyIfUnchanged: true,
    })),
  );
}

async function respond(
  id: string,
  record: DocumentData,
  deps: Pick<DialogueDeps, 'species'>,
): Promise<ObservationResponse> {
  const detail = toDetail(id, record);
  return { ...detail, species: detail.speciesId ? await deps.species(detail.speciesId) : null };
}

/**
 * refineObservation: merges the answers (a value answers, `unknown` says « je ne sais pas »,
 * null withdraws) and/or sets or removes the framing of one stored photo (`region`, photo
 * `photoIndex`, 0 by default: a model pass on the stored copy, which spends one identification
 * of the budget), then recomputes the result. Without a region no model runs.
 */
export async function refineObservation(
  caller: Caller,
  data: unknown,
  deps: DialogueDeps,
): Promise<ObservationResponse> {
  const started = performance.now();
  const request = parseInput(refineObservationRequest, data);
  const id = request.observationId;
  const change: Change = { answers: request.answers };
  const { region } = request;
  if (region !== undefined) {
    const index = request.photoIndex ?? 0;
    const { photos } = dialogueState(await existingRecord(observationRef(deps, caller.uid, id)));
    const photo = photos[index];
    if (!photo)
      fail(
        'invalid-argument',
        `Cette observation a ${photos.length} photo(s) : photoIndex va de 0 à ${photos.length - 1}.`,
      );
    if (region) requireRegionFits(region, photo.width, photo.height);
    // A new framing is a model pass: it costs what an identification costs.
    const charge = await deps.consumeBudget(caller);
    const { model, evidence, older } = await serveCharged(charge, async () => {
      const model = await deps.engine.model();
      const [evidence, older] = await Promise.all([
        storedPhotoEvidence(model, photo, region, deps),
        rerunOlderPhotos(model, photos, [photo.photoPath], deps),
      ]);
      return { model, evidence, older };
    });
    change.reframed = [
      { photoPath: photo.photoPath, region, evidence, onlyIfUnchanged: false },
      ...older,
    ];
    change.model = { version: model.version, parameters: parametersSnapshot(model.dialogue) };
  }
  await deps.beforeCommit?.();
  const record = await commitChange(caller, id, change, deps);
  logger.info('observation.refined', {
    uid: caller.uid,
    observationId: id,
    answers: Object.keys(request.answers ?? {}),
    reframed: request.region !== undefined,
    verdict: record.verdict,
    candidates: (record.candidates as { speciesIds: string[] }).speciesIds.length,
    ms: Math.round(performance.now() - started),
  });
  return respond(id, record, deps);
}

/**
 * addObservationPhoto: one more photo of the same trail (at most MAX_PHOTOS per observation),
 * stored like the first one (metadata-free JPEG + thumbnail, objects named by the photo's own
 * id), classified (framed when a region is given) and fused with the others by the dialogue's
 * tempered product. Spends one identification of the budget before anything is decoded, like
 * identifyFootprint. An observation without a place takes the photo's EXIF position.
 */
export async function addObservationPhoto(
  caller: Caller,
  data: unknown,
  deps: DialogueDeps,
): Promise<ObservationResponse> {
  const started = performance.now();
  const charge = await deps.consumeBudget(caller);
  const request = parseInput(addObservationPhotoRequest({ maxBytes: deps.limits.maxBytes }), data);
  const id = request.observationId;
  const { uid } = caller;
  const state = dialogueState(await existingRecord(observationRef(deps, uid, id)));
  // Checked again in the transaction: this one spares the decoding of a photo refused anyway.
  if (state.photos.length >= MAX_PHOTOS) tooManyPhotos();
  let width: number;
  let height: number;
  let preview: Buffer;
  try {
    ({ width, height, preview } = await inspectImage(request.photo, deps.limits));
  } catch (err) {
    if (err instanceof ImageRejection) imageRejectionError(err);
    throw err;
  }
  const region = request.region ?? null;
  if (region) requireRegionFits(region, width, height);
  // A call the service could not serve (model still loading) gives its quota back; a refused
  // photo keeps its charge (a flood of them would otherwise cost nothing).
  const model = await serveCharged(charge, () => deps.engine.model());
  const [copies, prediction, exif, older] = await Promise.allSettled([
    photoCopies(request.photo, deps.limits, preview),
    model.predict(request.photo, region ? { region } : {}),
    state.location ? Promise.resolve(null) : extractExifInfo(request.photo),
    rerunOlderPhotos(model, state.photos, [], deps),
  ]);
  // The inspector decoded the photo under the policy every decoder uses; if one refuses it all
  // the same, the photo is at fault: the French rejection, never `internal`.
  for (const outcome of [copies, prediction]) {
    if (outcome.status === 'rejected' && outcome.reason instanceof ImageRejection)
      imageRejectionError(outcome.reason);
  }
  if (copies.status === 'rejected') throw copies.reason;
  if (prediction.status === 'rejected') throw prediction.reason;
  if (older.status === 'rejected') throw older.reason;
  const exifPlace =
    exif.status === 'fulfilled' && exif.value ? trustedExif(exif.value, deps.now()).location : null;

  const photoId = randomUUID().replace(/-/g, '').slice(0, 20);
  const paths = observationPhotoPaths(uid, id, photoId);
  let record: DocumentData;
  try {
    const added = await storePhotoCopies(
      deps.bucket,
      copies.value,
      { photoId, paths },
      uid,
      deps.storageOrigin,
      {
        region,
        evidence: evidenceOf(prediction.value, model.version),
        addedAt: Timestamp.fromDate(deps.now()),
      },
    );
    await deps.beforeCommit?.();
    record = await commitOrUndo(
      commitChange(
        caller,
        id,
        {
          added,
          reframed: older.value,
          model: { version: model.version, parameters: parametersSnapshot(model.dialogue) },
          ...(exifPlace ? { place: { location: exifPlace, locationSource: 'exif' } } : {}),
        },
        deps,
      ),
      // Its objects are deleted below: a late write must not keep naming them.
      () => commitChange(caller, id, { removed: paths.photo }, deps),
      'observation photo write',
    );
  } catch (err) {
    await deleteObjectsQuietly(deps.bucket, [paths.photo, paths.thumbnail]);
    throw err;
  }
  logger.info('observation.photo_added', {
    uid,
    observationId: id,
    photos: (record.photos as unknown[]).length,
    framed: region !== null,
    verdict: record.verdict,
    modelVersion: model.version,
    ms: Math.round(performance.now() - started),
  });
  return respond(id, record, deps);
}
