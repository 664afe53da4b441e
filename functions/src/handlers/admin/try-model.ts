/**
 * tryModel (admins): identifies a photo with any model of the registry, the active one or a
 * candidate before its promotion, and answers as identifyFootprint would (verdict, top 3,
 * hint, candidates, fact sheet) without storing anything: no observation, no photo, no quota.
 */
import type { Firestore } from 'firebase-admin/firestore';
import { Timestamp } from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import { COLLECTIONS, STORAGE_PREFIX } from '@wildlens/shared';
import { fail } from '../../common/errors.js';
import { parseInput, tryModelRequest } from '../../api/schemas.js';
import { ImageRejection, inspectImage } from '../../images/inspect.js';
import type { ActiveModelPointer, ServingModel } from '../../engine/model-engine.js';
import {
  assessedFields,
  evidenceOf,
  parametersSnapshot,
  requireRegionFits,
  type StoredPhoto,
} from '../observation-evidence.js';
import type { SpeciesSheet } from '../species.js';
import { imageRejectionError } from '../identify.js';

export interface TryModelDeps {
  db: Firestore;
  models: { model(pointer: ActiveModelPointer): Promise<ServingModel> };
  limits: { maxBytes: number; maxPixels: number; minSide: number };
  species: (id: string) => Promise<SpeciesSheet | null>;
}

export interface TryModelResponse {
  verdict: 'identified' | 'uncertain' | 'not_a_footprint';
  top: { speciesId: string; probability: number }[];
  species: SpeciesSheet | null;
  hint: string | null;
  candidates: { speciesIds: string[]; coverage: number | null };
  model: { version: string; status: string | null; active: boolean };
}

export async function tryModel(
  uid: string,
  data: unknown,
  deps: TryModelDeps,
): Promise<TryModelResponse> {
  const input = parseInput(tryModelRequest({ maxBytes: deps.limits.maxBytes }), data);
  const [registered, pointer] = await Promise.all([
    deps.db.collection(COLLECTIONS.models).doc(input.version).get(),
    deps.db.collection(COLLECTIONS.config).doc('activeModel').get(),
  ]);
  if (!registered.exists) fail('not-found', `Modèle inconnu : « ${input.version} ».`);
  if (registered.get('exported') === false)
    fail(
      'failed-precondition',
      `Le modèle « ${input.version} » n’est pas exporté : il ne peut pas être essayé.`,
    );
  let inspected;
  try {
    inspected = await inspectImage(input.photo, deps.limits);
  } catch (err) {
    if (err instanceof ImageRejection) imageRejectionError(err);
    throw err;
  }
  const region = input.region ?? null;
  if (region) requireRegionFits(region, inspected.width, inspected.height);
  const model = await deps.models.model({
    version: input.version,
    storagePrefix: `${STORAGE_PREFIX.models}${input.version}/`,
  });
  let prediction;
  try {
    prediction = await model.predict(input.photo, region ? { region } : {});
  } catch (err) {
    if (err instanceof ImageRejection) imageRejectionError(err);
    throw err;
  }
  // The result exactly as an observation of this photo would read (never stored).
  const photo: StoredPhoto = {
    photoId: null,
    photoPath: '',
    thumbnailPath: '',
    photoUrl: '',
    thumbnailUrl: '',
    width: inspected.width,
    height: inspected.height,
    bytes: inspected.bytes,
    brightness: 128,
    region,
    evidence: evidenceOf(prediction, model.version),
    addedAt: Timestamp.now(),
  };
  const assessed = assessedFields({
    photos: [photo],
    answers: {},
    location: input.location ? { lat: input.location.lat, lng: input.location.lng } : null,
    parameters: parametersSnapshot(model.dialogue),
  });
  const species = assessed.speciesId ? await deps.species(assessed.speciesId) : null;
  logger.info('admin.model_tried', {
    by: uid,
    version: input.version,
    verdict: assessed.verdict,
    speciesId: assessed.speciesId,
  });
  return {
    verdict: assessed.verdict,
    top: assessed.top,
    species,
    hint: assessed.hint,
    candidates: assessed.candidates,
    model: {
      version: input.version,
      status: (registered.get('status') as string | undefined) ?? null,
      active: pointer.get('version') === input.version,
    },
  };
}
