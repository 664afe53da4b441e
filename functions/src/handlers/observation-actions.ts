import { Timestamp, type DocumentReference, type Firestore } from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import { COLLECTIONS, observationPhotoPaths } from '@wildlens/shared';
import type { Bucket } from '../firebase.js';
import { fail } from '../common/errors.js';
import { observationFeedbackRequest, observationRequest, parseInput } from '../api/schemas.js';

export interface ObservationActionDeps {
  db: Firestore;
  bucket: Bucket;
  now: () => Date;
}

/** Everything the app shows on an observation's page. */
export interface ObservationDetail {
  observationId: string;
  verdict: string;
  speciesId: string | null;
  speciesNameFr: string | null;
  top: { speciesId: string; probability: number }[];
  hint: string | null;
  photoUrl: string | null;
  thumbnailUrl: string | null;
  location: { lat: number; lng: number; accuracyM?: number } | null;
  locationSource: 'client' | 'exif' | null;
  takenAt: string | null;
  createdAt: string;
  model: { version: string } | null;
  feedback: { correctedSpeciesId: string; at: string } | null;
}

function parseId(data: unknown): string {
  return parseInput(observationRequest, data).observationId;
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
  const feedback = d.feedback as { correctedSpeciesId?: string; at?: unknown } | null | undefined;
  return {
    observationId: id,
    verdict: String(d.verdict ?? 'uncertain'),
    speciesId: (d.speciesId as string | null | undefined) ?? null,
    speciesNameFr: (d.speciesNameFr as string | null | undefined) ?? null,
    top: (d.top as ObservationDetail['top'] | undefined) ?? [],
    hint: (d.hint as string | null | undefined) ?? null,
    photoUrl: (d.photoUrl as string | undefined) ?? null,
    thumbnailUrl: (d.thumbnailUrl as string | undefined) ?? null,
    location: (d.location as ObservationDetail['location'] | undefined) ?? null,
    locationSource: (d.locationSource as ObservationDetail['locationSource'] | undefined) ?? null,
    takenAt: iso(d.takenAt),
    createdAt: iso(d.createdAt) ?? new Date(0).toISOString(),
    model: (d.model as ObservationDetail['model'] | undefined) ?? null,
    feedback: feedback?.correctedSpeciesId
      ? { correctedSpeciesId: feedback.correctedSpeciesId, at: iso(feedback.at) ?? '' }
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
 * Deletes an observation's photo and thumbnail, then its record. Objects go first: if their
 * deletion fails the record remains and the deletion can be retried, so no photo is ever
 * left behind unlisted. Only objects under the owner's own prefix are touched.
 */
async function eraseObservation(
  snap: FirebaseFirestore.DocumentSnapshot,
  uid: string,
  bucket: Bucket,
): Promise<void> {
  const fallback = observationPhotoPaths(uid, snap.id);
  const prefix = `users/${uid}/`;
  const paths = [
    (snap.get('photoPath') as string | undefined) ?? fallback.photo,
    (snap.get('thumbnailPath') as string | undefined) ?? fallback.thumbnail,
  ].filter((p) => p.startsWith(prefix));
  await Promise.all(
    paths.map((p) =>
      bucket
        .file(p)
        .delete()
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        }),
    ),
  );
  await snap.ref.delete();
}

/** Deletes one of the caller's observations: photo, thumbnail, then the record. */
export async function deleteObservation(
  uid: string,
  data: unknown,
  deps: ObservationActionDeps,
): Promise<{ observationId: string; deleted: true }> {
  const id = parseId(data);
  const snap = await existing(observationRef(deps.db, uid, id));
  await eraseObservation(snap, uid, deps.bucket);
  logger.info('observation.deleted', { uid, observationId: id });
  return { observationId: id, deleted: true };
}

/**
 * Retention of anonymous accounts' data: their observations (records and photos) older than
 * `retentionDays` are erased. Anyone can mint an anonymous account, so what they store must not
 * accumulate forever. Runs in pages; what a run does not reach, the next one does.
 */
export async function purgeAnonymousObservations(
  deps: ObservationActionDeps & { retentionDays: number; maxPerRun?: number },
): Promise<{ erased: number }> {
  const cutoff = Timestamp.fromMillis(deps.now().getTime() - deps.retentionDays * 86_400_000);
  const maxPerRun = deps.maxPerRun ?? 5_000;
  let erased = 0;
  while (erased < maxPerRun) {
    const page = await deps.db
      .collectionGroup(COLLECTIONS.observations)
      .where('anonymous', '==', true)
      .where('createdAt', '<', cutoff)
      .limit(Math.min(100, maxPerRun - erased))
      .get();
    if (page.empty) break;
    for (const snap of page.docs) {
      // users/{uid}/observations/{id}: the owner is the grandparent document.
      await eraseObservation(snap, snap.ref.parent.parent?.id ?? '', deps.bucket);
      erased++;
    }
  }
  if (erased) logger.info('observation.retention_purged', { erased, cutoff: cutoff.toDate() });
  return { erased };
}

/**
 * Records the species the user says is right (null clears it): input for future training.
 * Racing a deletion of the same observation answers `not-found`, never `internal`: the update
 * is conditional on the document existing, and the reply is built from what was written.
 */
export async function setObservationFeedback(
  uid: string,
  data: unknown,
  deps: ObservationActionDeps,
): Promise<ObservationDetail> {
  const { observationId: id, correctedSpeciesId } = parseInput(observationFeedbackRequest, data);
  const ref = observationRef(deps.db, uid, id);
  const feedback =
    correctedSpeciesId === null ? null : { correctedSpeciesId, at: Timestamp.fromDate(deps.now()) };
  try {
    // update() fails with NOT_FOUND (gRPC 5) when the document is gone, atomically.
    await ref.update({ feedback });
  } catch (err) {
    if ((err as { code?: unknown } | null)?.code === 5)
      fail('not-found', 'Observation introuvable.');
    throw err;
  }
  const snap = await ref.get();
  if (!snap.exists) fail('not-found', 'Observation introuvable.');
  logger.info('observation.feedback', { uid, observationId: id, correctedSpeciesId });
  return toDetail(id, snap.data() ?? {});
}
