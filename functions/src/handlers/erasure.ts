/**
 * Erasure of a user's data: one observation (deleteObservation, consent withdrawn, the
 * anonymous retention purge) or a whole account (Auth account deleted). Storage objects go
 * before the records that point at them, so an interrupted erasure leaves a record to find
 * and can simply run again: every step is idempotent.
 */
import {
  FieldPath,
  FieldValue,
  type DocumentData,
  type DocumentReference,
  type DocumentSnapshot,
  type Firestore,
  type QueryDocumentSnapshot,
  type Timestamp,
  type Transaction,
} from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import {
  COLLECTIONS,
  STORAGE_PREFIX,
  observationPhotoPaths,
  trainingThumbnailPath,
} from '@wildlens/shared';
import type { Bucket } from '../firebase.js';
import { runContendedTransaction } from '../common/transactions.js';
import { candidateRef } from './review.js';
import { markAccountErased, markErasureCompleted } from './erasure-marker.js';
import { observationObjectPaths } from './observation-evidence.js';

/**
 * Points where a test pauses an erasure to race it against another writer (no sleeps): each is
 * awaited, when given, once the step it names is done.
 */
export interface ErasureHooks {
  /** The observation is closed to review (its candidate deleted); nothing else erased yet. */
  contributionClosed?: () => Promise<void>;
  /** The observation's training images are listed; none erased yet. */
  trainingImagesListed?: () => Promise<void>;
  /** A training image's record is marked `erasing`; nothing of it erased yet. */
  trainingImageMarked?: () => Promise<void>;
}

export interface ErasureDeps {
  db: Firestore;
  bucket: Bucket;
  now: () => Date;
  hooks?: ErasureHooks;
  noteHooks?: ErasureNoteHooks;
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

/** How often an erasure follows a training image that is relabelled under it before it gives up. */
const MAX_MOVES = 5;

/**
 * erasureNotes/{id}: one per erased training image, written in the transaction that deletes its
 * record (so exactly once), holding only when the image was created and erased. It is carried
 * to the runs created since the image (and their models) page by page, then deleted: the
 * record's transaction never touches the runs, however many there are (issue 20, finding 18).
 * Functions-only (firestore.rules deny every client).
 */
export const ERASURE_NOTES_COLLECTION = 'erasureNotes';

/**
 * Runs counted per transaction: each writes its runs, their models and the note, so at most
 * 2 × 200 + 1 documents, well under Firestore's 500 writes per transaction.
 */
export const ERASURE_NOTE_PAGE = 200;

/** Points where a test pauses or interrupts the counting of an erasure on the runs. */
export interface ErasureNoteHooks {
  /** A page of runs (and their models) has been counted and the note moved past it. */
  pageNoted?: (page: { runs: number; models: number }) => Promise<void>;
}

/**
 * Counts one erased image on the runs whose snapshot included it (created since the image)
 * and on their models: `erasedImages` incremented, `lastErasureAt` set. Each page commits with
 * the note's cursor moved past it, so an interrupted count resumes where it stopped and never
 * counts a run twice; the note is deleted with the last page.
 */
export async function carryErasureNote(
  db: Firestore,
  note: DocumentReference,
  hooks: ErasureNoteHooks = {},
): Promise<void> {
  for (;;) {
    const page = await runContendedTransaction(db, async (tx) => {
      const current = await tx.get(note);
      if (!current.exists) return undefined;
      const imageCreatedAt = current.get('imageCreatedAt') as Timestamp;
      const cursor = current.get('cursor') as { createdAt: Timestamp; id: string } | null;
      let query = db
        .collection(COLLECTIONS.trainingRuns)
        .where('createdAt', '>=', imageCreatedAt)
        .orderBy('createdAt')
        .orderBy(FieldPath.documentId())
        .limit(ERASURE_NOTE_PAGE);
      if (cursor) query = query.startAfter(cursor.createdAt, cursor.id);
      const runs = (await tx.get(query)).docs;
      const versions = runs
        .map((r) => r.get('modelVersion') as string | undefined)
        .filter((v): v is string => typeof v === 'string' && v.length > 0);
      const models = versions.length
        ? (
            await tx.getAll(...versions.map((v) => db.collection(COLLECTIONS.models).doc(v)))
          ).filter((m) => m.exists)
        : [];
      const counted = {
        erasedImages: FieldValue.increment(1),
        lastErasureAt: current.get('erasedAt') as Timestamp,
      };
      for (const run of runs) tx.update(run.ref, counted);
      for (const model of models) tx.update(model.ref, counted);
      const last = runs[runs.length - 1];
      if (runs.length < ERASURE_NOTE_PAGE || !last) tx.delete(note);
      else
        tx.update(note, { cursor: { createdAt: last.get('createdAt') as Timestamp, id: last.id } });
      return { runs: runs.length, models: models.length };
    });
    if (!page) return;
    await hooks.pageNoted?.(page);
    if (page.runs < ERASURE_NOTE_PAGE) return;
  }
}

/** Finishes the notes an interrupted erasure left (any erasure calls it after its own work). */
export async function carryPendingErasureNotes(
  db: Firestore,
  hooks: ErasureNoteHooks = {},
): Promise<number> {
  let carried = 0;
  for (;;) {
    const pending = await db.collection(ERASURE_NOTES_COLLECTION).limit(20).get();
    if (pending.empty) return carried;
    for (const note of pending.docs) await carryErasureNote(db, note.ref, hooks);
    carried += pending.size;
  }
}

/**
 * Removes a training image: its cached embeddings, its JPEG and thumbnail, then its record. Runs whose
 * snapshot included it (created after it) keep their counts, and say so: an erasure note,
 * written in the transaction that deletes the record (so a retried erasure never counts twice),
 * is carried to them and their models (`erasedImages`, carryErasureNote). Their model was
 * trained with the photo and stays as it is; the next run no longer sees it.
 *
 * The record is first marked `erasing`: a training run that writes the photo's embedding checks
 * the record right after (trainer/src/run.ts), and deletes what it wrote once it finds the mark
 * or no record; a check that found neither ran before the mark, so its write precedes the
 * deletion of the embeddings below (issue 20, finding 5).
 *
 * `image` may be stale: an admin may have relabelled it since it was read, moving its JPEG to
 * another path. The record is deleted only by a transaction that finds it still pointing at
 * the object just deleted; otherwise the object it points at now goes too, and the check runs
 * again, so no JPEG outlives its record (a relabel that commits after the record is gone finds
 * nothing to switch and deletes its own copy). The thumbnail's path derives from the JPEG's
 * (trainingThumbnailPath), so it goes with each JPEG the erasure follows; one written after
 * that (the thumbnail migration) is deleted by its writer, which then finds the record
 * `erasing` or gone.
 */
export async function eraseTrainingImage(
  image: DocumentSnapshot,
  deps: ErasureDeps,
): Promise<boolean> {
  const marked = await runContendedTransaction(deps.db, async (tx) => {
    const current = await tx.get(image.ref);
    if (!current.exists) return false;
    if (current.get('erasing') !== true) tx.update(image.ref, { erasing: true });
    return true;
  });
  if (!marked) return false;
  await deps.hooks?.trainingImageMarked?.();
  const storedSha256 = image.get('storedSha256') as string | undefined;
  if (storedSha256 && /^[0-9a-f]{64}$/.test(storedSha256)) {
    await deleteEmbeddings(deps.bucket, storedSha256);
  }
  let storagePath = image.get('storagePath') as string | undefined;
  for (let move = 0; move <= MAX_MOVES; move++) {
    const thumbnailPath = storagePath && trainingThumbnailPath(storagePath);
    if (storagePath && thumbnailPath) {
      await Promise.all([
        deleteObject(deps.bucket, storagePath),
        deleteObject(deps.bucket, thumbnailPath),
      ]);
    }
    const outcome = await runContendedTransaction(deps.db, async (tx) => {
      const current = await tx.get(image.ref);
      if (!current.exists) return { erased: false };
      const pointsAt = current.get('storagePath') as string | undefined;
      if (pointsAt !== storagePath) return { movedTo: pointsAt };
      const createdAt = current.get('createdAt') as Timestamp | undefined;
      const note = createdAt ? deps.db.collection(ERASURE_NOTES_COLLECTION).doc() : undefined;
      if (note) tx.set(note, { imageCreatedAt: createdAt, erasedAt: deps.now(), cursor: null });
      tx.delete(image.ref);
      return { erased: true, note };
    });
    if (!('movedTo' in outcome)) {
      if (outcome.note) await carryErasureNote(deps.db, outcome.note, deps.noteHooks);
      return outcome.erased;
    }
    storagePath = outcome.movedTo;
  }
  // Retried by the caller's platform (the erasure is idempotent) once the relabels settle.
  throw new Error(
    `training image ${image.id} moved more than ${MAX_MOVES} times during its erasure`,
  );
}

/**
 * The review candidate of an observation, deleted in `tx` if it exists; returns the name of the
 * copy it sent to ingestion, if any. Every acceptance and ingestion checks the candidate in its
 * own transaction, so once this commits none of them can add anything of the observation.
 */
export function dropCandidate(
  tx: Transaction,
  candidate: DocumentSnapshot | undefined,
): string | undefined {
  if (!candidate?.exists) return undefined;
  tx.delete(candidate.ref);
  const sent = candidate.get('ingestion.objectName') as string | undefined;
  return sent?.startsWith(STORAGE_PREFIX.incoming) ? sent : undefined;
}

/**
 * What an observation gave the training set once its candidate is gone (dropCandidate): the
 * copy sent to ingestion, the ingestion records and their objects, the training images. Any
 * ingestion that recorded something committed before the candidate went, so the queries below
 * find it. The observation itself is left alone.
 */
export async function eraseDerivatives(
  uid: string,
  observationId: string,
  deps: ErasureDeps,
  sent?: string,
): Promise<{ trainingImages: number }> {
  if (sent) await deleteObject(deps.bucket, sent);
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
  const images = (await owned(COLLECTIONS.trainingImages)).docs;
  await deps.hooks?.trainingImagesListed?.();
  let trainingImages = 0;
  for (const image of images) {
    if (await eraseTrainingImage(image, deps)) trainingImages++;
  }
  return { trainingImages };
}

/** Points where a test pauses an observation's erasure to race it against a write. */
export interface ObservationErasureHooks {
  /** The photos the record named have been deleted; the record has not. */
  objectsDeleted?: () => Promise<void>;
}

/**
 * Everything one observation gave the training set, for a contribution whose observation
 * record is already gone (an interrupted erasure): its candidate, then its derivatives.
 */
export async function eraseContribution(
  uid: string,
  observationId: string,
  deps: ErasureDeps,
): Promise<{ trainingImages: number }> {
  const candidate = candidateRef(deps.db, uid, observationId);
  const sent = await runContendedTransaction(deps.db, async (tx) =>
    dropCandidate(tx, await tx.get(candidate)),
  );
  return eraseDerivatives(uid, observationId, deps, sent);
}

/**
 * Deletes an observation and everything derived from it. First, in one transaction, the
 * observation is closed (`erasing`, no longer shared: consent cannot be given again, no review
 * can accept it) and its candidate deleted, so nothing new can derive from it while the rest
 * goes; then its contribution to training, every photo and thumbnail, and its record last, so
 * a failed erasure leaves the record to retry from. The record is deleted in a transaction that
 * re-reads it: a photo added meanwhile (addObservationPhoto committed after the objects were
 * listed) is erased first, and an addition after that finds no record and deletes its own
 * objects. Only objects under the owner's own prefix are touched.
 */
export async function eraseObservation(
  snap: DocumentSnapshot,
  uid: string,
  deps: ErasureDeps,
  hooks: ObservationErasureHooks = {},
): Promise<{ trainingImages: number }> {
  const candidate = candidateRef(deps.db, uid, snap.id);
  const sent = await runContendedTransaction(deps.db, async (tx) => {
    const [current, review] = await tx.getAll(snap.ref, candidate);
    if (current?.exists) tx.update(snap.ref, { erasing: true, shareForTraining: false });
    return dropCandidate(tx, review);
  });
  await deps.hooks?.contributionClosed?.();
  const erased = await eraseDerivatives(uid, snap.id, deps, sent);
  const first = observationPhotoPaths(uid, snap.id);
  const prefix = `${STORAGE_PREFIX.users}${uid}/`;
  const deleted = new Set<string>();
  const notYetDeleted = (record: DocumentData) =>
    [first.photo, first.thumbnail, ...observationObjectPaths(record)].filter(
      (p) => p.startsWith(prefix) && !deleted.has(p),
    );
  let left = notYetDeleted(snap.data() ?? {});
  while (left.length) {
    await Promise.all(left.map((p) => deleteObject(deps.bucket, p)));
    for (const p of left) deleted.add(p);
    await hooks.objectsDeleted?.();
    left = await runContendedTransaction(deps.db, async (tx) => {
      const current = await tx.get(snap.ref);
      if (!current.exists) return [];
      const added = notYetDeleted(current.data() ?? {});
      if (!added.length) tx.delete(snap.ref);
      return added;
    });
  }
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
  // Counts an interrupted erasure (of this account or another) left on the runs unfinished.
  await carryPendingErasureNotes(deps.db, deps.noteHooks);
  await markErasureCompleted(deps.db, uid, deps.now());
  logger.info('account.erased', { uid, observations, trainingImages, actorFields });
  return { observations, trainingImages, actorFields };
}
