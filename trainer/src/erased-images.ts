/**
 * Training images erased while a run uses them (issue 20, findings 5 and 6). A run trains on
 * the snapshot of records taken when it starts; a hiker may withdraw consent or delete their
 * account at any moment after, and the erasure (functions/src/handlers/erasure.ts) first marks
 * the record `erasing`, then deletes the cached embeddings, the JPEG and the record. The run
 * skips such an image wherever it meets it (a download that finds no object, a record gone or
 * marked before training), counts it (`skippedErased`) and finishes with the others; an
 * embedding it cached for the photo is deleted again (StorageEmbeddingCache's guard).
 */
import type { Firestore } from 'firebase-admin/firestore';
import { COLLECTIONS } from '@wildlens/shared';
import type { Retry } from './resilience.js';

/** A photo of the run's snapshot that has been erased since. */
export class ErasedImageError extends Error {
  constructor(readonly imageId: string) {
    super(`training image ${imageId} erased during the run`);
  }
}

/** Reads per request when the run checks its images' records. */
const RECORDS_PER_READ = 100;

/**
 * The training images among `ids` that are erased: no record any more, or one marked `erasing`
 * (the erasure has started: whatever is cached of it from now on must go). Returns the others'
 * current storage paths (a relabel moves the JPEG).
 */
export async function checkRecords(
  db: Firestore,
  retry: Retry,
  ids: string[],
): Promise<{ erased: Set<string>; storagePaths: Map<string, string> }> {
  const erased = new Set<string>();
  const storagePaths = new Map<string, string>();
  for (let i = 0; i < ids.length; i += RECORDS_PER_READ) {
    const refs = ids
      .slice(i, i + RECORDS_PER_READ)
      .map((id) => db.collection(COLLECTIONS.trainingImages).doc(id));
    const snaps = await retry('firestore.check_images', () => db.getAll(...refs));
    for (const snap of snaps) {
      if (!snap.exists || snap.get('erasing') === true) erased.add(snap.id);
      else storagePaths.set(snap.id, snap.get('storagePath') as string);
    }
  }
  return { erased, storagePaths };
}

/**
 * Runs `step` (which reads the current, shrinking list of images each time) until it completes,
 * telling `onErased` of each image it stopped at because it was erased. A step that embeds
 * finds the images it did before in the embedding cache, so a retry only costs lookups.
 */
export async function skippingErased<T>(
  step: () => Promise<T>,
  onErased: (imageId: string) => void,
): Promise<T> {
  const skipped = new Set<string>();
  for (;;) {
    try {
      return await step();
    } catch (err) {
      // The same image twice: the step did not leave it out, and would loop forever.
      if (!(err instanceof ErasedImageError) || skipped.has(err.imageId)) throw err;
      skipped.add(err.imageId);
      onErased(err.imageId);
    }
  }
}
