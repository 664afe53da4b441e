/**
 * The review queue: observations their owner shared for training become review candidates
 * (`reviewCandidates/{candidateId}`, admins only); an admin accepts one with a label, which
 * sends the photo through the ordinary ingestion path, or rejects it with a reason.
 */
import { createHash } from 'node:crypto';
import {
  FieldValue,
  Timestamp,
  type DocumentData,
  type DocumentSnapshot,
  type Firestore,
  type Transaction,
} from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import { COLLECTIONS, loadSpeciesCatalog, observationIncomingPath } from '@wildlens/shared';
import type { Bucket } from '../firebase.js';
import { fail } from '../common/errors.js';
import { runContendedTransaction } from '../common/transactions.js';
import {
  acceptReviewCandidateRequest,
  parseInput,
  rejectReviewCandidateRequest,
} from '../api/schemas.js';
import { uploadIdFor } from './ingestion.js';
import { isErased } from './erasure-marker.js';

export type CandidateStatus = 'pending' | 'accepted' | 'rejected';

export interface ReviewDeps {
  db: Firestore;
  bucket: Bucket;
  now: () => Date;
  /** Tests only: awaited once the accepted candidate's photo is read, before its copy is written. */
  beforeCopy?: () => Promise<void>;
}

/** One candidate per observation, found again from the owner and the observation alone. */
export function candidateIdFor(uid: string, observationId: string): string {
  // JSON keeps the two apart whatever characters a uid holds.
  return createHash('sha256')
    .update(JSON.stringify([uid, observationId]))
    .digest('hex')
    .slice(0, 32);
}

export function candidateRef(db: Firestore, uid: string, observationId: string) {
  return db.collection(COLLECTIONS.reviewCandidates).doc(candidateIdFor(uid, observationId));
}

/**
 * The queue's view of the user's correction: the proposed label is the correction when there
 * is one, else the model's top-1; a disagreement is a correction other than the top-1.
 */
export function correctionFields(
  predictedSpeciesId: string | null,
  correctedSpeciesId: string | null,
): {
  predictedSpeciesId: string | null;
  correctedSpeciesId: string | null;
  proposedSpeciesId: string | null;
  disagreement: boolean;
} {
  return {
    predictedSpeciesId,
    correctedSpeciesId,
    proposedSpeciesId: correctedSpeciesId ?? predictedSpeciesId,
    disagreement: correctedSpeciesId !== null && correctedSpeciesId !== predictedSpeciesId,
  };
}

/**
 * Whether a shared observation belongs in the review queue. Not a picture the model saw no
 * footprint in (anyone could otherwise fill the queue with any picture) unless its owner named
 * the species (a human says it is a track: the model's error is worth a review); never one a
 * reviewer already rejected, so withdrawing and giving consent again does not ask again. The
 * queue thus holds at most one candidate per observation, each costing an identification of the
 * owner's quota, and a rejection is final.
 */
export function queuesForReview(observation: DocumentData): boolean {
  if (observation.reviewRejectedAt) return false;
  const feedback = observation.feedback as { correctedSpeciesId?: string } | null | undefined;
  return observation.verdict !== 'not_a_footprint' || Boolean(feedback?.correctedSpeciesId);
}

/** A pending candidate built from its observation's record (what the reviewer needs to decide). */
export function candidateFromObservation(
  uid: string,
  observationId: string,
  observation: DocumentData,
): DocumentData {
  const top = (observation.top as { speciesId: string; probability: number }[] | undefined) ?? [];
  const feedback = observation.feedback as { correctedSpeciesId?: string } | null | undefined;
  return {
    ownerUid: uid,
    observationId,
    status: 'pending' satisfies CandidateStatus,
    photoPath: (observation.photoPath as string | undefined) ?? null,
    photoUrl: (observation.photoUrl as string | undefined) ?? null,
    thumbnailUrl: (observation.thumbnailUrl as string | undefined) ?? null,
    verdict: (observation.verdict as string | undefined) ?? null,
    top,
    modelVersion: (observation.model as { version?: string } | undefined)?.version ?? null,
    ...correctionFields(top[0]?.speciesId ?? null, feedback?.correctedSpeciesId ?? null),
    // Anonymous accounts' candidates expire with their observations (retention purge).
    anonymous: observation.anonymous === true,
    sharedAt: FieldValue.serverTimestamp(),
  };
}

/**
 * What the hiker learns of a decision (the observation's `expert` field, written in the
 * decision's transaction): the label the expert gave, or none when the photo was refused.
 * `confirmed` when the label is what the observation said (its owner's correction, else the
 * model's answer), `corrected` otherwise. The refusal's reason stays with the reviewers.
 */
export type ExpertOutcome = 'confirmed' | 'corrected' | 'rejected';

export interface ExpertIdentification {
  speciesId: string | null;
  speciesNameFr: string | null;
  outcome: ExpertOutcome;
  reviewedAt: Date;
}

const speciesNames = new Map(loadSpeciesCatalog().species.map((s) => [s.id, s.nameFr]));

export function expertIdentification(
  observation: DocumentData,
  labelSpeciesId: string | null,
  reviewedAt: Date,
): ExpertIdentification {
  if (labelSpeciesId === null)
    return { speciesId: null, speciesNameFr: null, outcome: 'rejected', reviewedAt };
  const feedback = observation.feedback as { correctedSpeciesId?: string } | null | undefined;
  const top = observation.top as { speciesId?: string }[] | undefined;
  const said = feedback?.correctedSpeciesId ?? top?.[0]?.speciesId ?? null;
  return {
    speciesId: labelSpeciesId,
    speciesNameFr: speciesNames.get(labelSpeciesId) ?? labelSpeciesId,
    outcome: said === labelSpeciesId ? 'confirmed' : 'corrected',
    reviewedAt,
  };
}

/** The expert's identification as the API shows it (getObservation, listObservations). */
export interface ExpertView {
  speciesId: string | null;
  speciesNameFr: string | null;
  outcome: ExpertOutcome;
  reviewedAt: string;
  /** French, shown as is: « Confirmé par un expert : Renard roux »… */
  label: string;
}

const OUTCOMES: readonly ExpertOutcome[] = ['confirmed', 'corrected', 'rejected'];

export function expertView(observation: DocumentData): ExpertView | null {
  const expert = observation.expert as Partial<Record<string, unknown>> | null | undefined;
  const outcome = expert?.outcome as ExpertOutcome | undefined;
  if (!expert || !outcome || !OUTCOMES.includes(outcome)) return null;
  const reviewedAt = expert.reviewedAt;
  const name = typeof expert.speciesNameFr === 'string' ? expert.speciesNameFr : null;
  return {
    speciesId: typeof expert.speciesId === 'string' ? expert.speciesId : null,
    speciesNameFr: name,
    outcome,
    reviewedAt:
      reviewedAt instanceof Timestamp
        ? reviewedAt.toDate().toISOString()
        : reviewedAt instanceof Date
          ? reviewedAt.toISOString()
          : '',
    label:
      outcome === 'rejected'
        ? 'Examinée par un expert : photo non retenue, espèce non confirmée'
        : `${outcome === 'confirmed' ? 'Confirmé' : 'Corrigé'} par un expert : ${name ?? ''}`,
  };
}

/** Fields of a decision that `undoReviewDecision` clears (with status, label, reason…). */
export const DECISION_QUALITY_FIELDS = ['preselection', 'keptPreselection', 'agreesWithModel'];

/**
 * What a decision says about the review itself, so the dataset page can show how often
 * reviewers only confirm the model: whether the page preselected the proposed species (the
 * user's correction, else the model's top-1), whether the admin kept that preselection (null
 * without one), and, for an acceptance, whether the label is the model's top-1 (null for a
 * rejection, which names no species).
 */
export function decisionQuality(
  candidate: DocumentData,
  preselection: boolean | undefined,
  label: string | null,
): { preselection: boolean; keptPreselection: boolean | null; agreesWithModel: boolean | null } {
  const shown = preselection ?? true;
  return {
    preselection: shown,
    keptPreselection: shown ? label !== null && label === candidate.proposedSpeciesId : null,
    agreesWithModel: label === null ? null : label === candidate.predictedSpeciesId,
  };
}

export const GONE_FR =
  'Candidat introuvable : l’observation a été supprimée ou son partage retiré entre-temps.';

/** The candidate's observation, still there and still shared (`not-found` otherwise). */
async function sharedObservation(
  tx: Transaction,
  db: Firestore,
  ownerUid: string,
  observationId: unknown,
): Promise<DocumentSnapshot> {
  const observation = await tx.get(
    db
      .collection(COLLECTIONS.users)
      .doc(ownerUid)
      .collection(COLLECTIONS.observations)
      .doc(String(observationId)),
  );
  if (!observation.exists || observation.get('shareForTraining') !== true)
    fail('not-found', GONE_FR);
  return observation;
}

/**
 * Accepts a candidate under `speciesId`: the candidate is marked accepted, then a copy of the
 * user's stored photo (already metadata-free) is written under incoming/ with its provenance,
 * and the ingestion trigger takes it from there like any admin upload (same validation,
 * normalisation, content-hash dedupe and record; retried by the platform and the sweeper).
 * Repeating the call with the same label re-sends the copy while its ingestion is pending.
 * The owner's observation records the expert's label in the same transaction.
 */
export async function acceptReviewCandidate(
  reviewerUid: string,
  data: unknown,
  deps: ReviewDeps,
): Promise<{ candidateId: string; status: 'accepted'; speciesId: string; uploadId: string }> {
  const { candidateId, speciesId, preselection } = parseInput(acceptReviewCandidateRequest, data);
  const ref = deps.db.collection(COLLECTIONS.reviewCandidates).doc(candidateId);
  const objectName = observationIncomingPath(speciesId, candidateId);
  const uploadId = uploadIdFor(objectName);
  const candidate = await runContendedTransaction(deps.db, async (tx) => {
    const snap = await tx.get(ref);
    if (!snap.exists) fail('not-found', GONE_FR);
    // A deleted account's photo never enters the training set: once its erasure has begun
    // the candidate is as good as gone (the erasure removes it next), even to a repeated call.
    if (await isErased(tx, deps.db, String(snap.get('ownerUid')))) fail('not-found', GONE_FR);
    const status = snap.get('status') as CandidateStatus;
    if (status === 'accepted' && snap.get('label') === speciesId) return snap.data() ?? {};
    if (status !== 'pending') {
      fail(
        'failed-precondition',
        `Ce candidat a déjà été ${status === 'accepted' ? `accepté comme « ${String(snap.get('label'))} »` : 'refusé'}.`,
      );
    }
    const owner = String(snap.get('ownerUid'));
    const observation = await sharedObservation(tx, deps.db, owner, snap.get('observationId'));
    const now = deps.now();
    const update = {
      status: 'accepted',
      label: speciesId,
      reviewerUid,
      reviewedAt: now,
      ...decisionQuality(snap.data() ?? {}, preselection, speciesId),
      ingestion: { status: 'pending', uploadId, objectName, at: now },
    };
    tx.update(ref, update);
    tx.update(observation.ref, {
      expert: expertIdentification(observation.data() ?? {}, speciesId, now),
    });
    return { ...snap.data(), ...update };
  });

  const ingestion = candidate.ingestion as { status?: string } | undefined;
  if (ingestion?.status === 'pending') {
    const ownerUid = String(candidate.ownerUid);
    const photoPath = String(candidate.photoPath ?? '');
    // Only ever the owner's own observation photo.
    if (!photoPath.startsWith(`users/${ownerUid}/observations/`)) fail('not-found', GONE_FR);
    let photo: Buffer;
    try {
      [photo] = await deps.bucket.file(photoPath).download();
    } catch (err) {
      if ((err as { code?: unknown } | null)?.code === 404) fail('not-found', GONE_FR);
      throw err;
    }
    // An erasure may run from here on (the account deleted, the observation deleted or its
    // consent withdrawn): it deletes the candidate first, so this copy, even written after
    // the erasure, reaches an ingestion that finds the candidate gone and discards it
    // (ingestion.ts stillAccepted); before the download, the photo was gone (not-found).
    await deps.beforeCopy?.();
    await deps.bucket.file(objectName).save(photo, {
      resumable: false,
      contentType: 'image/jpeg',
      metadata: {
        metadata: {
          source: 'observation',
          domain: 'field',
          observationId: String(candidate.observationId),
          ownerUid,
          reviewerUid: String(candidate.reviewerUid),
          candidateId,
          uploaderUid: String(candidate.reviewerUid),
        },
      },
    });
  }
  logger.info('review.accepted', { candidateId, speciesId, by: reviewerUid, uploadId });
  return { candidateId, status: 'accepted', speciesId, uploadId };
}

/**
 * Rejects a pending candidate with a reason (repeating the call changes nothing); its owner's
 * observation records that an expert refused it. Refused, like an acceptance, once the owner's
 * erasure has begun or the observation is gone or no longer shared.
 */
export async function rejectReviewCandidate(
  reviewerUid: string,
  data: unknown,
  deps: Pick<ReviewDeps, 'db' | 'now'>,
): Promise<{ candidateId: string; status: 'rejected' }> {
  const { candidateId, reason, preselection } = parseInput(rejectReviewCandidateRequest, data);
  const ref = deps.db.collection(COLLECTIONS.reviewCandidates).doc(candidateId);
  await runContendedTransaction(deps.db, async (tx) => {
    const snap = await tx.get(ref);
    if (!snap.exists) fail('not-found', GONE_FR);
    const status = snap.get('status') as CandidateStatus;
    if (status === 'rejected') return;
    if (status !== 'pending') {
      fail(
        'failed-precondition',
        'Ce candidat a déjà été accepté : retirez l’image du jeu de données si besoin.',
      );
    }
    const owner = String(snap.get('ownerUid'));
    if (await isErased(tx, deps.db, owner)) fail('not-found', GONE_FR);
    const observation = await sharedObservation(tx, deps.db, owner, snap.get('observationId'));
    const now = deps.now();
    tx.update(ref, {
      status: 'rejected',
      reason,
      reviewerUid,
      reviewedAt: now,
      ...decisionQuality(snap.data() ?? {}, preselection, null),
    });
    tx.update(observation.ref, {
      expert: expertIdentification(observation.data() ?? {}, null, now),
    });
  });
  logger.info('review.rejected', { candidateId, by: reviewerUid });
  return { candidateId, status: 'rejected' };
}
