import { FieldValue, type Firestore } from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import { COLLECTIONS, DEFAULT_MAX_INPUT_PIXELS, trainingImagePath } from '@wildlens/shared';
import type { Bucket } from '../../firebase.js';
import { fail } from '../../common/errors.js';
import { runContendedTransaction } from '../../common/transactions.js';
import {
  deleteTrainingImageRequest,
  parseInput,
  relabelTrainingImageRequest,
} from '../../api/schemas.js';
import { decodePreview } from '../../images/inspect.js';
import { deleteTrainingCopies, saveTrainingCopies } from '../ingestion.js';
import { eraseTrainingImage } from '../erasure.js';

export interface ImageAdminDeps {
  db: Firestore;
  bucket: Bucket;
  now: () => Date;
  /** Tests only: pause points of a relabel, to race it against an erasure without sleeping. */
  relabelHooks?: {
    /** The image's record is read; nothing written yet. */
    recordRead?: () => Promise<void>;
    /** The copy under the new label is written; the record not switched yet. */
    copyWritten?: () => Promise<void>;
  };
}

const IMAGE_GONE_FR = 'Image d’entraînement introuvable.';

function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 404;
}

/**
 * Moves a training image and its thumbnail to another species: the new objects are written
 * first (the thumbnail made again from the stored JPEG, so an image ingested before thumbnails
 * existed gets one), then the document switches in a transaction (only if still under the old
 * label), then the old objects go. A crash leaves at worst unreferenced objects, never a
 * document pointing at nothing.
 * An erasure racing it (consent withdrawn, observation or account deleted) wins: the relabel
 * answers `not-found` and deletes its copy when the record is gone before it switches, and the
 * erasure follows the record to the new object when the switch came first (eraseTrainingImage).
 */
export async function relabelTrainingImage(
  uid: string,
  data: unknown,
  deps: ImageAdminDeps,
): Promise<{ imageId: string; speciesId: string }> {
  const { imageId, speciesId } = parseInput(relabelTrainingImageRequest, data);
  const ref = deps.db.collection(COLLECTIONS.trainingImages).doc(imageId);
  const snap = await ref.get();
  if (!snap.exists) fail('not-found', IMAGE_GONE_FR);
  const oldSpecies = snap.get('speciesId') as string;
  const oldPath = snap.get('storagePath') as string;
  if (oldSpecies === speciesId) return { imageId, speciesId };
  await deps.relabelHooks?.recordRead?.();

  const newPath = trainingImagePath(speciesId, imageId);
  let bytes: Buffer;
  try {
    [bytes] = await deps.bucket.file(oldPath).download();
  } catch (err) {
    // Erased (or moved by another relabel) since it was read.
    if (isNotFound(err)) fail('not-found', IMAGE_GONE_FR);
    throw err;
  }
  // Our own JPEG, decoded under the one photo policy like any photo.
  const thumbnail = await decodePreview(bytes, DEFAULT_MAX_INPUT_PIXELS);
  const copies = await saveTrainingCopies(deps.db, deps.bucket, newPath, bytes, thumbnail);
  await deps.relabelHooks?.copyWritten?.();
  const moved = await runContendedTransaction(deps.db, async (tx) => {
    const current = await tx.get(ref);
    if (!current.exists) return 'gone';
    if (current.get('speciesId') !== oldSpecies) return 'changed';
    tx.update(ref, {
      speciesId,
      storagePath: newPath,
      ...copies,
      relabeledAt: deps.now(),
      relabeledBy: uid,
      previousLabels: FieldValue.arrayUnion(oldSpecies),
      conflictingLabels: FieldValue.arrayRemove(speciesId),
    });
    return 'moved';
  });
  if (moved !== 'moved') {
    await deleteTrainingCopies(deps.bucket, newPath);
    if (moved === 'gone') fail('not-found', IMAGE_GONE_FR);
    fail('aborted', 'L’image a été modifiée entre-temps : rechargez la page et réessayez.');
  }
  // The old thumbnail too, whether the record named it or not (trainingThumbnailPath).
  await deleteTrainingCopies(deps.bucket, oldPath);
  logger.info('admin.image_relabeled', { imageId, from: oldSpecies, to: speciesId, by: uid });
  return { imageId, speciesId };
}

/**
 * Removes a training image like any erasure (eraseTrainingImage): its JPEG and thumbnail, its
 * cached embeddings, then its record; the runs trained with it count it as erased.
 */
export async function deleteTrainingImage(
  uid: string,
  data: unknown,
  deps: ImageAdminDeps,
): Promise<{ deleted: true }> {
  const { imageId } = parseInput(deleteTrainingImageRequest, data);
  const snap = await deps.db.collection(COLLECTIONS.trainingImages).doc(imageId).get();
  if (!snap.exists) fail('not-found', IMAGE_GONE_FR);
  await eraseTrainingImage(snap, deps);
  logger.info('admin.image_deleted', { imageId, by: uid });
  return { deleted: true };
}
