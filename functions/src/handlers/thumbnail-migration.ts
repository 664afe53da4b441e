/**
 * Backfill of the training images' thumbnails (issue 23). Ingestion writes each training image's
 * 256 px thumbnail next to it (thumbnails/training/…, saveTrainingCopies) and records
 * `thumbnailPath` and `thumbnailUrl`, which the dataset page shows instead of the full photo.
 * Images ingested before that have neither: this migration makes their thumbnail from the stored
 * JPEG (the inspector's preview, decodePreview) and records it.
 *
 * Idempotent and cheap when there is nothing to do (one query of the records, nothing
 * downloaded or written), so it runs with the other migrations at every `npm start` and after
 * every `firebase deploy` (`npm run migrate`). Safe against whatever runs meanwhile: the
 * thumbnail is written first, then recorded by a transaction that finds the record still
 * pointing at the same JPEG and not being erased; otherwise its writer deletes it again (an
 * erasure marks the record `erasing` before it deletes the JPEG and its thumbnail, so a
 * thumbnail written after that deletion is always found by one side or the other; a relabel
 * deletes the old thumbnail and writes its own).
 */
import type { Firestore, QueryDocumentSnapshot } from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import {
  COLLECTIONS,
  DEFAULT_MAX_INPUT_PIXELS,
  mapLimit,
  trainingThumbnailPath,
} from '@wildlens/shared';
import type { Bucket } from '../firebase.js';
import { errorSummary } from '../common/errors.js';
import { runContendedTransaction } from '../common/transactions.js';
import { decodePreview } from '../images/inspect.js';
import { saveWithDownloadUrl } from './ingestion.js';

export interface ThumbnailMigrationDeps {
  db: Firestore;
  bucket: Bucket;
  /** Records read per request. */
  pageSize?: number;
  /** Thumbnails made at once (each one download, one decode, one upload). */
  concurrency?: number;
  /** Tests only: the thumbnail of `imageId` is made from its JPEG, not written yet. */
  hooks?: { thumbnailMade?: (imageId: string) => Promise<void> };
}

export interface ThumbnailMigrationOutcome {
  /** Training image records looked at. */
  images: number;
  /** Thumbnails written and recorded. */
  thumbnailsWritten: number;
  /** Images left without one: their JPEG unreadable (logged), or erased or moved meanwhile. */
  skipped: number;
}

/** Whether the record already names the thumbnail of the JPEG it points at. */
function hasThumbnail(doc: { get(field: string): unknown }, thumbnailPath: string): boolean {
  return doc.get('thumbnailPath') === thumbnailPath && typeof doc.get('thumbnailUrl') === 'string';
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 404;
}

async function backfillOne(
  doc: QueryDocumentSnapshot,
  deps: ThumbnailMigrationDeps,
): Promise<'written' | 'skipped' | 'present'> {
  const storagePath = doc.get('storagePath') as unknown;
  const thumbnailPath = typeof storagePath === 'string' && trainingThumbnailPath(storagePath);
  if (typeof storagePath !== 'string' || !thumbnailPath) return 'skipped';
  if (hasThumbnail(doc, thumbnailPath)) return 'present';
  if (doc.get('erasing') === true) return 'skipped';
  let bytes: Buffer;
  try {
    [bytes] = await deps.bucket.file(storagePath).download();
  } catch (err) {
    // Erased or moved since the query: whoever did it handles the record.
    if (isNotFound(err)) return 'skipped';
    throw err;
  }
  let thumbnail: Buffer;
  try {
    thumbnail = await decodePreview(bytes, DEFAULT_MAX_INPUT_PIXELS);
  } catch (err) {
    logger.warn('migration.thumbnail_unreadable', { imageId: doc.id, ...errorSummary(err) });
    return 'skipped';
  }
  await deps.hooks?.thumbnailMade?.(doc.id);
  const thumbnailUrl = await saveWithDownloadUrl(deps.db, deps.bucket, thumbnailPath, thumbnail);
  const outcome = await runContendedTransaction(deps.db, async (tx) => {
    const current = await tx.get(doc.ref);
    if (!current.exists || current.get('erasing') === true) return 'stale';
    if (current.get('storagePath') !== storagePath) return 'stale';
    if (hasThumbnail(current, thumbnailPath)) return 'present';
    tx.update(doc.ref, { thumbnailPath, thumbnailUrl });
    return 'written';
  });
  if (outcome === 'stale') {
    // Erased or relabelled meanwhile: its deletion of this thumbnail may have come before ours.
    await deps.bucket.file(thumbnailPath).delete({ ignoreNotFound: true });
    return 'skipped';
  }
  return outcome;
}

export async function backfillTrainingThumbnails(
  deps: ThumbnailMigrationDeps,
): Promise<ThumbnailMigrationOutcome> {
  const pageSize = deps.pageSize ?? 200;
  const outcome: ThumbnailMigrationOutcome = { images: 0, thumbnailsWritten: 0, skipped: 0 };
  const images = deps.db.collection(COLLECTIONS.trainingImages);
  let after: string | undefined;
  for (;;) {
    let query = images
      .orderBy('__name__')
      .select('storagePath', 'thumbnailPath', 'thumbnailUrl', 'erasing')
      .limit(pageSize);
    if (after) query = query.startAfter(after);
    const page = await query.get();
    if (page.empty) break;
    after = page.docs[page.docs.length - 1]?.id;
    outcome.images += page.size;
    const results = await mapLimit(page.docs, deps.concurrency ?? 4, (doc) =>
      backfillOne(doc, deps),
    );
    for (const r of results) {
      if (r === 'written') outcome.thumbnailsWritten++;
      else if (r === 'skipped') outcome.skipped++;
    }
  }
  return outcome;
}
