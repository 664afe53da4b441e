import { randomUUID } from 'node:crypto';
import {
  Timestamp,
  type DocumentData,
  type DocumentReference,
  type Firestore,
  type QueryDocumentSnapshot,
} from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import { COLLECTIONS, STORAGE_PREFIX } from '@wildlens/shared';
import type { Bucket } from '../firebase.js';
import { fail } from '../common/errors.js';
import {
  downloadTokenOf,
  ensureOnlyDownloadToken,
  withDownloadToken,
} from '../common/download-url.js';
import {
  observationFeedbackRequest,
  observationRequest,
  observationShareRequest,
  parseInput,
} from '../api/schemas.js';
import {
  dropCandidate,
  eraseContribution,
  eraseDerivatives,
  eraseObservation,
  type ErasureHooks,
  type ObservationErasureHooks,
} from './erasure.js';
import { runUnlessErased } from './erasure-marker.js';
import {
  candidateFromObservation,
  candidateRef,
  correctionFields,
  expertView,
  queuesForReview,
  type ExpertView,
} from './review.js';
import { dialogueView, type DialogueView } from './observation-evidence.js';

export interface ObservationActionDeps {
  db: Firestore;
  bucket: Bucket;
  now: () => Date;
  hooks?: ErasureHooks;
  /** Tests only: pause points of deleteObservation's erasure. */
  erasureHooks?: ObservationErasureHooks;
}

/** Everything the app shows on an observation's page (the dialogue's part: DialogueView). */
export interface ObservationDetail extends DialogueView {
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
  /**
   * An observation made with no network (syncOfflineObservations): what the device's bundle
   * answered, kept beside the server's answer above; null for the others.
   */
  offline: {
    clientId: string;
    bundleVersion: string;
    verdict: string;
    top: { speciesId: string; probability: number }[];
    identifiedAt: string | null;
    syncedAt: string | null;
  } | null;
  /** An expert's decision on the shared photo (acceptance with a label, or refusal); null before. */
  expert: ExpertView | null;
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
    offline: offlineView(d.offline),
    expert: expertView(d),
    ...dialogueView(d),
  };
}

function offlineView(value: unknown): ObservationDetail['offline'] {
  if (typeof value !== 'object' || value === null) return null;
  const o = value as Record<string, unknown>;
  return {
    clientId: String(o.clientId ?? ''),
    bundleVersion: String(o.bundleVersion ?? ''),
    verdict: String(o.verdict ?? ''),
    top: Array.isArray(o.top) ? (o.top as { speciesId: string; probability: number }[]) : [],
    identifiedAt: iso(o.identifiedAt),
    syncedAt: iso(o.syncedAt),
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
 * Deletes one of the caller's observations: its review candidate and training copy, every
 * photo and thumbnail, then the record.
 */
export async function deleteObservation(
  uid: string,
  data: unknown,
  deps: ObservationActionDeps,
): Promise<{ observationId: string; deleted: true }> {
  const id = parseId(data);
  const snap = await existing(observationRef(deps.db, uid, id));
  const { trainingImages } = await eraseObservation(snap, uid, deps, deps.erasureHooks);
  logger.info('observation.deleted', { uid, observationId: id, trainingImages });
  return { observationId: id, deleted: true };
}

/**
 * What Firebase Auth says now of an account whose observations were made anonymously: still
 * anonymous, linked since to a sign-in provider (e-mail…: the same uid, now a real account), or
 * deleted.
 */
export type AccountKind = 'anonymous' | 'linked' | 'deleted';

/** AccountKind of each uid, from one batched Auth lookup (`getUsers`, up to 100 uids). */
export function accountKindsFrom(auth: {
  getUsers(ids: { uid: string }[]): Promise<{
    users: { uid: string; providerData: unknown[] }[];
  }>;
}): (uids: string[]) => Promise<Map<string, AccountKind>> {
  return async (uids) => {
    const kinds = new Map<string, AccountKind>(uids.map((uid) => [uid, 'deleted']));
    if (!uids.length) return kinds;
    const { users } = await auth.getUsers(uids.map((uid) => ({ uid })));
    // An anonymous account has no provider; linking one (e-mail, Google…) adds it.
    for (const user of users)
      kinds.set(user.uid, user.providerData.length ? 'linked' : 'anonymous');
    return kinds;
  };
}

/**
 * An anonymous account linked to a sign-in provider keeps its history: its observations (and
 * their candidates) stop being marked anonymous, so no later purge looks at them again.
 * Updates only: an observation erased meanwhile is not brought back.
 */
async function keepHistory(uid: string, deps: ObservationActionDeps): Promise<number> {
  const marked = await deps.db
    .collection(COLLECTIONS.users)
    .doc(uid)
    .collection(COLLECTIONS.observations)
    .where('anonymous', '==', true)
    .get();
  const notFound = (err: unknown) => {
    if ((err as { code?: unknown } | null)?.code !== 5) throw err;
  };
  await Promise.all(
    marked.docs.flatMap((doc) => [
      doc.ref.update({ anonymous: false }).catch(notFound),
      candidateRef(deps.db, uid, doc.id).update({ anonymous: false }).catch(notFound),
    ]),
  );
  return marked.size;
}

/**
 * Review candidates of anonymous accounts whose observation is gone: a consent given while its
 * observation was deleted could leave one before issue 20 (finding 8), and no observation leads
 * to it. Erased with what derives from them once past the retention period.
 */
async function purgeOrphanCandidates(
  cutoff: Timestamp,
  deps: ObservationActionDeps,
  budget: number,
): Promise<number> {
  let erased = 0;
  let after: QueryDocumentSnapshot | undefined;
  while (budget > 0) {
    let query = deps.db
      .collection(COLLECTIONS.reviewCandidates)
      .where('anonymous', '==', true)
      .where('sharedAt', '<', cutoff)
      .orderBy('sharedAt')
      .limit(Math.min(100, budget));
    if (after) query = query.startAfter(after);
    const page = await query.get();
    if (page.empty) break;
    after = page.docs[page.docs.length - 1];
    budget -= page.size;
    for (const candidate of page.docs) {
      const uid = String(candidate.get('ownerUid') ?? '');
      const observationId = String(candidate.get('observationId') ?? '');
      if (uid && observationId && (await observationRef(deps.db, uid, observationId).get()).exists)
        continue;
      await eraseContribution(uid, observationId, deps);
      erased++;
    }
  }
  return erased;
}

/**
 * Retention of anonymous accounts' data: their observations older than `retentionDays` are
 * erased with everything derived from them (photos, review candidates, training copies).
 * Anyone can mint an anonymous account, so what they store must not accumulate forever. The
 * `anonymous` mark an observation got when it was made only selects what to look at: Auth
 * decides, because an anonymous account linked to an e-mail since is a real account whose
 * history stays (keepHistory). Then the candidates left without their observation. Runs in
 * pages; what a run does not reach, the next one does.
 */
export async function purgeAnonymousObservations(
  deps: ObservationActionDeps & {
    retentionDays: number;
    maxPerRun?: number;
    accountKinds: (uids: string[]) => Promise<Map<string, AccountKind>>;
  },
): Promise<{ erased: number; kept: number; orphanCandidates: number }> {
  const cutoff = Timestamp.fromMillis(deps.now().getTime() - deps.retentionDays * 86_400_000);
  const maxPerRun = deps.maxPerRun ?? 5_000;
  let erased = 0;
  let kept = 0;
  let seen = 0;
  let after: QueryDocumentSnapshot | undefined;
  while (seen < maxPerRun) {
    let query = deps.db
      .collectionGroup(COLLECTIONS.observations)
      .where('anonymous', '==', true)
      .where('createdAt', '<', cutoff)
      .orderBy('createdAt')
      .limit(Math.min(100, maxPerRun - seen));
    if (after) query = query.startAfter(after);
    const page = await query.get();
    if (page.empty) break;
    after = page.docs[page.docs.length - 1];
    seen += page.size;
    // users/{uid}/observations/{id}: the owner is the grandparent document.
    const ownerOf = (snap: QueryDocumentSnapshot) => snap.ref.parent.parent?.id ?? '';
    const owners = [...new Set(page.docs.map(ownerOf))];
    const kinds = await deps.accountKinds(owners);
    for (const uid of owners) if (kinds.get(uid) === 'linked') kept += await keepHistory(uid, deps);
    for (const snap of page.docs) {
      if (kinds.get(ownerOf(snap)) === 'linked') continue;
      await eraseObservation(snap, ownerOf(snap), deps);
      erased++;
    }
  }
  const orphanCandidates = await purgeOrphanCandidates(cutoff, deps, maxPerRun - seen);
  if (erased || kept || orphanCandidates) {
    logger.info('observation.retention_purged', {
      erased,
      kept,
      orphanCandidates,
      cutoff: cutoff.toDate(),
    });
  }
  return { erased, kept, orphanCandidates };
}

/**
 * Records the species the user says is right (null clears it): shown to the reviewer of a
 * shared observation as its proposed label. A shared picture the model saw no footprint in
 * joins the review queue once its owner names the species (queuesForReview). Racing a deletion
 * of the same observation answers `not-found`, never `internal`: the transaction reads the
 * record first, and the reply is built from what was written. Refused (`unauthenticated`) once
 * the account's erasure began.
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
    const updated: DocumentData = { ...snap.data(), feedback };
    // A pending review shows the latest correction; a decided one keeps what was decided on.
    if (review?.exists && review.get('status') === 'pending') {
      const top = snap.get('top') as { speciesId: string }[] | undefined;
      tx.update(candidate, correctionFields(top?.[0]?.speciesId ?? null, correctedSpeciesId));
    } else if (!review?.exists && updated.shareForTraining === true && queuesForReview(updated)) {
      tx.create(candidate, candidateFromObservation(uid, id, updated));
    }
    return updated;
  });
  logger.info('observation.feedback', { uid, observationId: id, correctedSpeciesId });
  return toDetail(id, written);
}

/**
 * Every photo object of an observation with the URL its record holds for it: the first photo's
 * fields and each entry of `photos` (the dialogue's extra photos; the first photo is there too).
 */
export function observationPhotoUrls(observation: DocumentData): { path: string; url: unknown }[] {
  const photos = Array.isArray(observation.photos) ? (observation.photos as DocumentData[]) : [];
  return [observation, ...photos].flatMap((photo) =>
    (
      [
        [photo.photoPath, photo.photoUrl],
        [photo.thumbnailPath, photo.thumbnailUrl],
      ] as const
    )
      .filter(([path]) => typeof path === 'string' && path.length > 0)
      .map(([path, url]) => ({ path: path as string, url: url as unknown })),
  );
}

/**
 * New download URLs for every photo of an observation (one fresh random token per object, the
 * same wherever the record names it), as the fields to write in its record.
 */
function rotatedUrls(observation: DocumentData): DocumentData {
  const tokens = new Map<string, string>();
  const rotate = (path: unknown, url: unknown): unknown => {
    if (typeof path !== 'string' || typeof url !== 'string' || !downloadTokenOf(url)) return url;
    if (!tokens.has(path)) tokens.set(path, randomUUID());
    return withDownloadToken(url, tokens.get(path) as string);
  };
  const fields: DocumentData = {};
  for (const [pathField, urlField] of [
    ['photoPath', 'photoUrl'],
    ['thumbnailPath', 'thumbnailUrl'],
  ] as const) {
    if (typeof observation[urlField] === 'string')
      fields[urlField] = rotate(observation[pathField], observation[urlField]);
  }
  if (Array.isArray(observation.photos)) {
    fields.photos = (observation.photos as DocumentData[]).map((photo) => ({
      ...photo,
      photoUrl: rotate(photo.photoPath, photo.photoUrl),
      thumbnailUrl: rotate(photo.thumbnailPath, photo.thumbnailUrl),
    }));
  }
  return fields;
}

/**
 * Gives each photo object of the observation the token of the URL its record holds, and no
 * other (the record decides). Two withdrawals of one photo can interleave their replacements,
 * so a pass that replaced something is followed by another that reads the record afresh, until
 * one finds everything in line. Stops when the observation is being erased: its objects go.
 */
async function syncPhotoTokens(
  ref: DocumentReference,
  uid: string,
  deps: ObservationActionDeps,
): Promise<void> {
  const ownPrefix = `${STORAGE_PREFIX.users}${uid}/`;
  for (let pass = 0; pass < 5; pass++) {
    const snap = await ref.get();
    if (!snap.exists || snap.get('erasing') === true) return;
    let replaced = false;
    for (const { path, url } of observationPhotoUrls(snap.data() ?? {})) {
      const token = downloadTokenOf(url);
      if (!path.startsWith(ownPrefix) || !token) continue;
      if ((await ensureOnlyDownloadToken(deps.bucket, path, token)) === 'replaced') replaced = true;
    }
    if (!replaced) return;
  }
  logger.warn('observation.token_sync_unsettled', { uid, observationId: ref.id });
}

/**
 * Gives or withdraws the user's consent to training use, in one transaction with the review
 * queue, so the two always agree whatever calls race (share ‖ withdraw ‖ delete ‖ review):
 * - given: the observation joins the review queue (once; not a picture the model saw no
 *   footprint in, nor one a reviewer already rejected: queuesForReview);
 * - withdrawn: its candidate goes with the consent, and its photos get new download tokens, so
 *   the URLs a reviewer saw stop working (the owner gets the new URLs in the answer); then the
 *   objects take the new tokens, and the copy sent to ingestion and the training image are
 *   erased. A withdrawal repeated after a failure does those steps again.
 * Refused (`not-found`) while the observation is being deleted, and (`unauthenticated`) once the
 * account's erasure began, so no candidate is queued behind either.
 */
export async function setObservationShare(
  uid: string,
  data: unknown,
  deps: ObservationActionDeps,
): Promise<ObservationDetail> {
  const { observationId: id, shareForTraining } = parseInput(observationShareRequest, data);
  const ref = observationRef(deps.db, uid, id);
  const candidate = candidateRef(deps.db, uid, id);
  const { written, sent } = await runUnlessErased<{
    written: DocumentData;
    sent?: string;
  }>(deps.db, uid, async (tx) => {
    const [snap, review] = await tx.getAll(ref, candidate);
    if (!snap?.exists || snap.get('erasing') === true)
      fail('not-found', 'Observation introuvable.');
    const current = snap.data() ?? {};
    const consent = { shareForTraining, shareForTrainingAt: Timestamp.fromDate(deps.now()) };
    if (shareForTraining) {
      const queued = review?.exists === true || !queuesForReview(current);
      if (current.shareForTraining === true && queued) return { written: current };
      tx.update(ref, consent);
      if (!queued)
        tx.create(candidate, candidateFromObservation(uid, id, { ...current, ...consent }));
      return { written: { ...current, ...consent } };
    }
    if (current.shareForTraining !== true && !review?.exists) return { written: current };
    const withdrawal = {
      ...consent,
      ...rotatedUrls(current),
      // A rejection outlives the candidate: sharing again does not queue the photo again.
      ...(review?.get('status') === 'rejected'
        ? { reviewRejectedAt: (review.get('reviewedAt') as unknown) ?? consent.shareForTrainingAt }
        : {}),
    };
    tx.update(ref, withdrawal);
    return { written: { ...current, ...withdrawal }, sent: dropCandidate(tx, review) };
  });
  if (!shareForTraining) {
    await deps.hooks?.contributionClosed?.();
    await syncPhotoTokens(ref, uid, deps);
    await eraseDerivatives(uid, id, deps, sent);
  }
  logger.info('observation.share', { uid, observationId: id, shareForTraining });
  return toDetail(id, written);
}
