import { Timestamp, type DocumentReference, type Firestore } from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import { COLLECTIONS } from '@wildlens/shared';
import type { Bucket } from '../firebase.js';
import { fail } from '../common/errors.js';
import {
  observationFeedbackRequest,
  observationRequest,
  observationShareRequest,
  parseInput,
} from '../api/schemas.js';
import { eraseContribution, eraseObservation } from './erasure.js';
import { runUnlessErased } from './erasure-marker.js';
import { candidateFromObservation, candidateRef, correctionFields } from './review.js';

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
  /** The user's consent to training use, and when it was last given or withdrawn. */
  shareForTraining: boolean;
  shareForTrainingAt: string | null;
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
    shareForTraining: d.shareForTraining === true,
    shareForTrainingAt: iso(d.shareForTrainingAt),
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

/**
 * Deletes one of the caller's observations: its review candidate and training copy, the photo
 * and thumbnail, then the record.
 */
export async function deleteObservation(
  uid: string,
  data: unknown,
  deps: ObservationActionDeps,
): Promise<{ observationId: string; deleted: true }> {
  const id = parseId(data);
  const snap = await existing(observationRef(deps.db, uid, id));
  const { trainingImages } = await eraseObservation(snap, uid, deps);
  logger.info('observation.deleted', { uid, observationId: id, trainingImages });
  return { observationId: id, deleted: true };
}

/**
 * Retention of anonymous accounts' data: their observations older than `retentionDays` are
 * erased with everything derived from them (photos, review candidates, training copies). Anyone can mint an anonymous account, so what they store must not
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
      await eraseObservation(snap, snap.ref.parent.parent?.id ?? '', deps);
      erased++;
    }
  }
  if (erased) logger.info('observation.retention_purged', { erased, cutoff: cutoff.toDate() });
  return { erased };
}

/**
 * Records the species the user says is right (null clears it): shown to the reviewer of a
 * shared observation as its proposed label. Racing a deletion of the same observation answers
 * `not-found`, never `internal`: the transaction reads the record first, and the reply is
 * built from what was written. Refused (`unauthenticated`) once the account's erasure began.
 */
export async function setObservationFeedback(
  uid: string,
  data: unknown,
  deps: ObservationActionDeps,
): Promise<ObservationDetail> {
  const { observationId: id, correctedSpeciesId } = parseInput(observationFeedbackRequest, data);
  const ref = observationRef(deps.db, uid, id);
  const candidate = candidateRef(deps.db, uid, id);
  const feedback =
    correctedSpeciesId === null ? null : { correctedSpeciesId, at: Timestamp.fromDate(deps.now()) };
  const written = await runUnlessErased(deps.db, uid, async (tx) => {
    const [snap, review] = await tx.getAll(ref, candidate);
    if (!snap?.exists) fail('not-found', 'Observation introuvable.');
    tx.update(ref, { feedback });
    // A pending review shows the latest correction; a decided one keeps what was decided on.
    if (review?.exists && review.get('status') === 'pending') {
      const top = snap.get('top') as { speciesId: string }[] | undefined;
      tx.update(candidate, correctionFields(top?.[0]?.speciesId ?? null, correctedSpeciesId));
    }
    return { ...snap.data(), feedback };
  });
  logger.info('observation.feedback', { uid, observationId: id, correctedSpeciesId });
  return toDetail(id, written);
}

/**
 * Gives or withdraws the user's consent to training use. Given: the observation joins the
 * review queue (once: giving it again changes nothing). Withdrawn: its candidate, the copy
 * sent to ingestion and its training image are erased before the record says so, so a failed
 * withdrawal can be repeated and never leaves a withdrawn photo in the training set. Refused
 * (`unauthenticated`) once the account's erasure began, so no candidate is queued behind it.
 */
export async function setObservationShare(
  uid: string,
  data: unknown,
  deps: ObservationActionDeps,
): Promise<ObservationDetail> {
  const { observationId: id, shareForTraining } = parseInput(observationShareRequest, data);
  const ref = observationRef(deps.db, uid, id);
  const candidate = candidateRef(deps.db, uid, id);
  if (!shareForTraining) {
    await existing(ref);
    await eraseContribution(uid, id, deps);
  }
  const written = await runUnlessErased(deps.db, uid, async (tx) => {
    const [snap, review] = await tx.getAll(ref, candidate);
    if (!snap?.exists) fail('not-found', 'Observation introuvable.');
    const data = snap.data() ?? {};
    if (data.shareForTraining === shareForTraining && (!shareForTraining || review?.exists)) {
      return data;
    }
    const consent = { shareForTraining, shareForTrainingAt: Timestamp.fromDate(deps.now()) };
    tx.update(ref, consent);
    if (shareForTraining && !review?.exists) {
      tx.create(candidate, candidateFromObservation(uid, id, { ...data, ...consent }));
    }
    return { ...data, ...consent };
  });
  logger.info('observation.share', { uid, observationId: id, shareForTraining });
  return toDetail(id, written);
}
