import { Timestamp, type DocumentReference, type Firestore } from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import { COLLECTIONS, SPECIES_ID_PATTERN, observationPhotoPaths } from '@wildlens/shared';
import type { Bucket } from '../firebase.js';
import { fail } from '../common/errors.js';

export interface ObservationActionDeps {
  db: Firestore;
  bucket: Bucket;
  now: () => Date;
}

/** Everything the app shows on an observation's page. */
export interface ObservationDetail {
  id: string;
  verdict: string;
  speciesId: string | null;
  speciesNameFr: string | null;
  top: { speciesId: string; probability: number }[];
  hint: string | null;
  imageUrl: string | null;
  thumbnailUrl: string | null;
  location: { lat: number; lng: number; accuracyM?: number } | null;
  locationSource: 'client' | 'exif' | null;
  takenAt: string | null;
  createdAt: string;
  model: { version: string } | null;
  feedback: { correctSpeciesId: string; at: string } | null;
}

const OBSERVATION_ID = /^[A-Za-z0-9_-]{1,64}$/;

function parseId(data: unknown): string {
  const id = (data as { id?: unknown } | null)?.id;
  if (typeof id !== 'string' || !OBSERVATION_ID.test(id)) {
    fail('invalid-argument', 'Identifiant d’observation invalide.');
  }
  return id;
}

/** The caller's own observation: the path always starts at users/{uid}, so another user's id is simply not found. */
function observationRef(db: Firestore, uid: string, id: string): DocumentReference {
  return db.collection(COLLECTIONS.users).doc(uid).collection(COLLECTIONS.observations).doc(id);
}

async function existing(ref: DocumentReference) {
  const snap = await ref.get();
  if (!snap.exists) fail('not-found', 'Observation introuvable.');
  return snap;
}

const iso = (value: unknown): string | null =>
  value instanceof Timestamp ? value.toDate().toISOString() : null;

export function toDetail(id: string, d: FirebaseFirestore.DocumentData): ObservationDetail {
  const feedback = d.feedback as { correctSpeciesId?: string; at?: unknown } | null | undefined;
  return {
    id,
    verdict: String(d.verdict ?? 'uncertain'),
    speciesId: (d.speciesId as string | null | undefined) ?? null,
    speciesNameFr: (d.speciesNameFr as string | null | undefined) ?? null,
    top: (d.top as ObservationDetail['top'] | undefined) ?? [],
    hint: (d.hint as string | null | undefined) ?? null,
    imageUrl: (d.imageUrl as string | undefined) ?? null,
    thumbnailUrl: (d.thumbnailUrl as string | undefined) ?? null,
    location: (d.location as ObservationDetail['location'] | undefined) ?? null,
    locationSource: (d.locationSource as ObservationDetail['locationSource'] | undefined) ?? null,
    takenAt: iso(d.takenAt),
    createdAt: iso(d.createdAt) ?? new Date(0).toISOString(),
    model: (d.model as ObservationDetail['model'] | undefined) ?? null,
    feedback: feedback?.correctSpeciesId
      ? { correctSpeciesId: feedback.correctSpeciesId, at: iso(feedback.at) ?? '' }
      : null,
  };
}

export async function getObservation(
  uid: string,
  data: unknown,
  deps: Pick<ObservationActionDeps, 'db'>,
): Promise<ObservationDetail> {
  const id = parseId(data);
  const snap = await existing(observationRef(deps.db, uid, id));
  return toDetail(id, snap.data() ?? {});
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 404;
}

/**
 * Deletes the photo, the thumbnail, then the record. Objects go first: if their deletion
 * fails the record remains and the user can retry, so no photo is ever left behind unlisted.
 */
export async function deleteObservation(
  uid: string,
  data: unknown,
  deps: ObservationActionDeps,
): Promise<{ id: string; deleted: true }> {
  const id = parseId(data);
  const ref = observationRef(deps.db, uid, id);
  const snap = await existing(ref);
  const fallback = observationPhotoPaths(uid, id);
  const prefix = `users/${uid}/`;
  const paths = [
    (snap.get('photoPath') as string | undefined) ?? fallback.photo,
    (snap.get('thumbnailPath') as string | undefined) ?? fallback.thumbnail,
  ].filter((p) => p.startsWith(prefix));
  await Promise.all(
    paths.map((p) =>
      deps.bucket
        .file(p)
        .delete()
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        }),
    ),
  );
  await ref.delete();
  logger.info('observation.deleted', { uid, observationId: id });
  return { id, deleted: true };
}

/** Records the species the user says is right (null clears it): input for future training. */
export async function setObservationFeedback(
  uid: string,
  data: unknown,
  deps: ObservationActionDeps,
): Promise<ObservationDetail> {
  const id = parseId(data);
  const correct = (data as { correctSpeciesId?: unknown }).correctSpeciesId;
  if (
    correct !== null &&
    (typeof correct !== 'string' || correct.length > 40 || !SPECIES_ID_PATTERN.test(correct))
  ) {
    fail(
      'invalid-argument',
      'correctSpeciesId doit être un identifiant d’espèce, par exemple « renard ».',
    );
  }
  if (correct !== null) {
    const species = await deps.db.collection(COLLECTIONS.species).doc(correct).get();
    if (!species.exists) fail('invalid-argument', `Espèce inconnue : « ${correct} ».`);
  }
  const ref = observationRef(deps.db, uid, id);
  await existing(ref);
  await ref.update({
    feedback:
      correct === null ? null : { correctSpeciesId: correct, at: Timestamp.fromDate(deps.now()) },
  });
  logger.info('observation.feedback', { uid, observationId: id, correctSpeciesId: correct });
  const snap = await ref.get();
  return toDetail(id, snap.data() ?? {});
}
