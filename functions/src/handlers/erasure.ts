/**
 * Erasure of a user's data: one observation (deleteObservation, consent withdrawn, the
 * anonymous retention purge) or a whole account (Auth account deleted). Storage objects go
 * before the records that point at them, so an interrupted erasure leaves a record to find
 * and can simply run again: every step is idempotent.
 */
import {
  FieldValue,
  type DocumentSnapshot,
  type Firestore,
  type QueryDocumentSnapshot,
} from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import { COLLECTIONS, STORAGE_PREFIX, observationPhotoPaths } from '@wildlens/shared';
import type { Bucket } from '../firebase.js';
import { runContendedTransaction } from '../common/transactions.js';
import { candidateRef } from './review.js';
import { markAccountErased, markErasureCompleted } from './erasure-marker.js';

export interface ErasureDeps {
  db: Firestore;
  bucket: Bucket;
  now: () => Date;
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 404;
}

async function deleteObject(bucket: Bucket, name: string): Promise<void> {
  await bucket
    .file(name)
    .delete()
    .catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
}

/** The trainer's embedding cache holds one object per backbone for each training JPEG. */
async function deleteEmbeddings(bucket: Bucket, storedSha256: string): Promise<void> {
  const prefixes: string[] = [];
  let pageToken: string | undefined;
  do {
    const [, next, response] = await bucket.getFiles({
      prefix: STORAGE_PREFIX.embeddings,
      delimiter: '/',
      autoPaginate: false,
      ...(pageToken ? { pageToken } : {}),
    });
    prefixes.push(...((response as { prefixes?: string[] } | undefined)?.prefixes ?? []));
    pageToken = (next as { pageToken?: string } | null)?.pageToken;
  } while (pageToken);
  await Promise.all(prefixes.map((p) => deleteObject(bucket, `${p}${storedSha256}.bin`)));
}

/**
 * Removes a training image that came from a user's photo: its JPEG and cached embeddings,
 * then its record. Runs whose snapshot included it (created after it) keep their counts, and
 * say so: they and their models get `erasedImages` incremented in the same transaction that
 * deletes the record, so a retried erasure never counts twice. Their model was trained with
 * the photo and stays as it is; the next run no longer sees it.
 */
export async function eraseTrainingImage(
  image: DocumentSnapshot,
  deps: ErasureDeps,
): Promise<boolean> {
  const storagePath = image.get('storagePath') as string | undefined;
  if (storagePath?.startsWith(STORAGE_PREFIX.training))
    await deleteObject(deps.bucket, storagePath);
  const storedSha256 = image.get('storedSha256') as string | undefined;
  if (storedSha256 && /^[0-9a-f]{64}$/.test(storedSha256)) {
    await deleteEmbeddings(deps.bucket, storedSha256);
  }
  return runContendedTransaction(deps.db, async (tx) => {
    const current = await tx.get(image.ref);
    if (!current.exists) return false;
    const createdAt = current.get('createdAt') as unknown;
    const runs = createdAt
      ? (
          await tx.get(
            deps.db.collection(COLLECTIONS.trainingRuns).where('createdAt', '>=', createdAt),
          )
        ).docs
      : [];
    const versions = runs
      .map((r) => r.get('modelVersion') as string | undefined)
      .filter((v): v is string => typeof v === 'string' && v.length > 0);
    const models = versions.length
      ? await tx.getAll(...versions.map((v) => deps.db.collection(COLLECTIONS.models).doc(v)))
      : [];
    const note = { erasedImages: FieldValue.increment(1), lastErasureAt: deps.now() };
    for (const run of runs) tx.update(run.ref, note);
    for (const model of models) if (model.exists) tx.update(model.ref, note);
    tx.delete(image.ref);
    return true;
  });
}

/**
 * Everything one observation gave the training set: its review candidate, the copy sent to
 * ingestion and its records, and its training image. The observation itself is left alone
 * (consent withdrawn keeps it; eraseObservation removes it next). The candidate goes first:
 * an ingestion in flight checks it in its own transaction, so it either committed before
 * (and its training image is found below) or records nothing.
 */
export async function eraseContribution(
  uid: string,
  observationId: string,
  deps: ErasureDeps,
): Promise<{ trainingImages: number }> {
  const candidate = candidateRef(deps.db, uid, observationId);
  const snap = await candidate.get();
  const sent = snap.get('ingestion.objectName') as string | undefined;
  await candidate.delete();
  if (sent?.startsWith(STORAGE_PREFIX.incoming)) await deleteObject(deps.bucket, sent);

  const owned = <T extends string>(collection: T) =>
    deps.db
      .collection(collection)
      .where('ownerUid', '==', uid)
      .where('observationId', '==', observationId)
      .get();
  const uploads = await owned(COLLECTIONS.uploads);
  for (const upload of uploads.docs) {
    for (const field of ['objectName', 'rejectedPath']) {
      const path = upload.get(field) as string | null | undefined;
      if (path?.startsWith(STORAGE_PREFIX.incoming) || path?.startsWith(STORAGE_PREFIX.rejected))
        await deleteObject(deps.bucket, path);
    }
    await upload.ref.delete();
  }
  let trainingImages = 0;
  for (const image of (await owned(COLLECTIONS.trainingImages)).docs) {
    if (await eraseTrainingImage(image, deps)) trainingImages++;
  }
  return { trainingImages };
}

/**
 * Deletes an observation and everything derived from it: its contribution to training, its
 * photo and thumbnail, then its record last, so a failed erasure leaves the record to retry
 * from. Only objects under the owner's own prefix are touched.
 */
export async function eraseObservation(
  snap: DocumentSnapshot,
  uid: string,
  deps: ErasureDeps,
): Promise<{ trainingImages: number }> {
  const erased = await eraseContribution(uid, snap.id, deps);
  const fallback = observationPhotoPaths(uid, snap.id);
  const prefix = `${STORAGE_PREFIX.users}${uid}/`;
  const paths = [
    (snap.get('photoPath') as string | undefined) ?? fallback.photo,
    (snap.get('thumbnailPath') as string | undefined) ?? fallback.thumbnail,
  ].filter((p) => p.startsWith(prefix));
  await Promise.all(paths.map((p) => deleteObject(deps.bucket, p)));
  await snap.ref.delete();
  return erased;
}

/**
 * Fields that name a user as the author of an admin action (upload, review, relabel, run).
 * When that account is deleted they are cleared: the work stays, the name goes.
 */
export const ACTOR_FIELDS: [collection: string, field: string][] = [
  [COLLECTIONS.trainingImages, 'uploaderUid'],
  [COLLECTIONS.trainingImages, 'reviewerUid'],
  [COLLECTIONS.trainingImages, 'relabeledBy'],
  [COLLECTIONS.uploads, 'uploaderUid'],
  [COLLECTIONS.reviewCandidates, 'reviewerUid'],
  [COLLECTIONS.trainingRuns, 'requestedBy'],
];

async function inPages(
  query: FirebaseFirestore.Query,
  each: (doc: QueryDocumentSnapshot) => Promise<void>,
): Promise<number> {
  let done = 0;
  for (;;) {
    // Each page is erased (or changed) before the next is read, so the query moves on.
    const page = await query.limit(100).get();
    if (page.empty) return done;
    for (const doc of page.docs) await each(doc);
    done += page.size;
  }
}

/** Points where a test pauses the account erasure to race it against a write. */
export interface AccountErasureHooks {
  /** The erasure marker has committed; nothing has been erased yet. */
  markerWritten?: () => Promise<void>;
}

/**
 * What the "Delete User Data" extension does, for this project's layout: every observation
 * (records, photos, thumbnails, candidates, training copies and their ingestion records),
 * anything else keyed by the uid (users/{uid} and its subcollections, the quota tickets under
 * rateLimits/{uid}, objects under users/{uid}/), and the uid where it names the author of an
 * admin action. Safe to run again: what is gone is not found twice.
 *
 * The erasure marker is written before anything is listed: from then on every write of the
 * account's data is refused, and every write that committed before it is found by the
 * listings below (erasure-marker.ts explains why no interleaving escapes both).
 */
export async function eraseAccount(
  uid: string,
  deps: ErasureDeps,
  hooks: AccountErasureHooks = {},
): Promise<{ observations: number; trainingImages: number; actorFields: number }> {
  await markAccountErased(deps.db, uid, deps.now());
  await hooks.markerWritten?.();
  let trainingImages = 0;
  const userRef = deps.db.collection(COLLECTIONS.users).doc(uid);
  const observations = await inPages(userRef.collection(COLLECTIONS.observations), async (obs) => {
    trainingImages += (await eraseObservation(obs, uid, deps)).trainingImages;
  });
  // Contributions whose observation record is already gone (an erasure interrupted earlier).
  const owned = (collection: string) => deps.db.collection(collection).where('ownerUid', '==', uid);
  for (const collection of [COLLECTIONS.reviewCandidates, COLLECTIONS.uploads]) {
    await inPages(owned(collection), async (doc) => {
      trainingImages += (await eraseContribution(uid, String(doc.get('observationId') ?? ''), deps))
        .trainingImages;
      // One whose observation id does not lead back to it would otherwise be found again.
      await doc.ref.delete();
    });
  }
  await inPages(owned(COLLECTIONS.trainingImages), async (image) => {
    if (await eraseTrainingImage(image, deps)) trainingImages++;
  });
  await deps.db.recursiveDelete(userRef);
  await deps.db.recursiveDelete(deps.db.collection(COLLECTIONS.rateLimits).doc(uid));
  await deps.bucket.deleteFiles({ prefix: `${STORAGE_PREFIX.users}${uid}/`, force: true });
  let actorFields = 0;
  for (const [collection, field] of ACTOR_FIELDS) {
    actorFields += await inPages(
      deps.db.collection(collection).where(field, '==', uid),
      async (doc) => {
        await doc.ref.update({ [field]: null });
      },
    );
  }
  await markErasureCompleted(deps.db, uid, deps.now());
  logger.info('account.erased', { uid, observations, trainingImages, actorFields });
  return { observations, trainingImages, actorFields };
}
