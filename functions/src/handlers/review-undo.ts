/**
 * One-step undo of a review decision: the admin's latest acceptance or rejection goes back to
 * the queue (« à vérifier »), as if it had never been decided.
 *
 * What it reverts:
 * - a rejection: the candidate is pending again (its reason and reviewer cleared);
 * - an acceptance whose copy is still on its way to the ingestion: the candidate is pending
 *   again, so the ingestion, which records a photo only while its candidate still says
 *   « accepted under this label » (ingestion.ts `stillAccepted`, checked inside its own
 *   transaction), discards the copy;
 * - an acceptance already ingested: the candidate is pending again and what it gave the
 *   training set is erased the way a withdrawn consent erases it (`eraseDerivatives`: the copy,
 *   the upload record, the training image, its JPEG and cached embeddings).
 *
 * What it cannot revert: a model already trained, or being trained, on the ingested photo keeps
 * it (its run and model count it in `erasedImages`, like any erasure); a photo that was a
 * duplicate of, or in conflict with, an image already in the set leaves that image as it is
 * (its duplicate count or conflicting label stay). Only the caller's own latest decision can be
 * undone, once: the page offers the last decision of its session.
 */
import { FieldValue } from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import { COLLECTIONS } from '@wildlens/shared';
import { fail } from '../common/errors.js';
import { runContendedTransaction } from '../common/transactions.js';
import { parseInput, undoReviewDecisionRequest } from '../api/schemas.js';
import { eraseDerivatives, type ErasureDeps } from './erasure.js';
import { DECISION_QUALITY_FIELDS, GONE_FR, type CandidateStatus } from './review.js';

export interface UndoResult {
  candidateId: string;
  status: 'pending';
  /** The decision that was undone. */
  undone: 'accepted' | 'rejected';
  /** Training images erased because the accepted photo had already been ingested. */
  trainingImagesRemoved: number;
}

export async function undoReviewDecision(
  reviewerUid: string,
  data: unknown,
  deps: ErasureDeps,
): Promise<UndoResult> {
  const { candidateId } = parseInput(undoReviewDecisionRequest, data);
  const candidates = deps.db.collection(COLLECTIONS.reviewCandidates);
  const ref = candidates.doc(candidateId);
  const undone = await runContendedTransaction(deps.db, async (tx) => {
    const snap = await tx.get(ref);
    if (!snap.exists) fail('not-found', GONE_FR);
    const status = snap.get('status') as CandidateStatus;
    if (status === 'pending') fail('failed-precondition', 'Cette photo est déjà à vérifier.');
    if (snap.get('reviewerUid') !== reviewerUid)
      fail(
        'permission-denied',
        'Cette décision a été prise par un autre administrateur : seule la vôtre peut être annulée.',
      );
    // Needs the (reviewerUid, reviewedAt desc) index of firestore.indexes.json.
    const latest = await tx.get(
      candidates.where('reviewerUid', '==', reviewerUid).orderBy('reviewedAt', 'desc').limit(1),
    );
    if (latest.docs[0]?.id !== candidateId)
      fail('failed-precondition', 'Seule votre dernière décision peut être annulée.');
    // The hiker's observation showed the decision as the expert's answer: it goes with it.
    const observation = await tx.get(
      deps.db
        .collection(COLLECTIONS.users)
        .doc(String(snap.get('ownerUid')))
        .collection(COLLECTIONS.observations)
        .doc(String(snap.get('observationId'))),
    );
    const cleared = Object.fromEntries(
      ['label', 'reason', 'reviewerUid', 'reviewedAt', 'ingestion', ...DECISION_QUALITY_FIELDS].map(
        (field) => [field, FieldValue.delete()],
      ),
    );
    tx.update(ref, {
      ...cleared,
      status: 'pending',
      lastUndo: { status, by: reviewerUid, at: deps.now() },
    });
    if (observation.exists) tx.update(observation.ref, { expert: FieldValue.delete() });
    const sent = snap.get('ingestion.objectName') as string | undefined;
    return {
      status: status as 'accepted' | 'rejected',
      ownerUid: String(snap.get('ownerUid')),
      observationId: String(snap.get('observationId')),
      sent,
    };
  });
  let trainingImagesRemoved = 0;
  if (undone.status === 'accepted') {
    // Anything the ingestion recorded committed before the candidate went back to pending, so
    // the erasure's queries find it; anything later is discarded by the ingestion itself.
    ({ trainingImages: trainingImagesRemoved } = await eraseDerivatives(
      undone.ownerUid,
      undone.observationId,
      deps,
      undone.sent,
    ));
  }
  logger.info('review.undone', {
    candidateId,
    by: reviewerUid,
    undone: undone.status,
    trainingImagesRemoved,
  });
  return { candidateId, status: 'pending', undone: undone.status, trainingImagesRemoved };
}
