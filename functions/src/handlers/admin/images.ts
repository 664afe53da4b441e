import { FieldValue, type Firestore } from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import { COLLECTIONS, trainingImagePath } from '@wildlens/shared';
import type { Bucket } from '../../firebase.js';
import { fail } from '../../common/errors.js';
import { runContendedTransaction } from '../../common/transactions.js';
import {
  deleteTrainingImageRequest,
  parseInput,
  relabelTrainingImageRequest,
} from '../../api/schemas.js';
import { saveWithDownloadUrl } from '../ingestion.js';

export interface ImageAdminDeps {
  db: Firestore;
  bucket: Bucket;
  now: () => Date;
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 404;
}

/**
 * Moves a training image to another species: the new object is written first, then the
 * document switches in a transaction (only if still under the old label), then the old object
 * goes. A crash leaves at worst an unreferenced object, never a document pointing at nothing.
 */
export async function relabelTrainingImage(
  uid: string,
  data: unknown,
  deps: ImageAdminDeps,
): Promise<{ imageId: string; speciesId: string }> {
  const { imageId, speciesId } = parseInput(relabelTrainingImageRequest, data);
  const ref = deps.db.collection(COLLECTIONS.trainingImages).doc(imageId);
  const snap = await ref.get();
  if (!snap.exists) fail('not-found', 'Image d’entraînement introuvable.');
  const oldSpecies = snap.get('speciesId') as string;
  const oldPath = snap.get('storagePath') as string;
  if (oldSpecies === speciesId) return { imageId, speciesId };

  const newPath = trainingImagePath(speciesId, imageId);
  const [bytes] = await deps.bucket.file(oldPath).download();
  const imageUrl = await saveWithDownloadUrl(deps.db, deps.bucket, newPath, bytes);
  const moved = await runContendedTransaction(deps.db, async (tx) => {
    const current = await tx.get(ref);
    if (!current.exists || current.get('speciesId') !== oldSpecies) return false;
    tx.update(ref, {
      speciesId,
      storagePath: newPath,
      imageUrl,
      relabeledAt: deps.now(),
      relabeledBy: uid,
      previousLabels: FieldValue.arrayUnion(oldSpecies),
      conflictingLabels: FieldValue.arrayRemove(speciesId),
    });
    return true;
  });
  if (!moved) {
    await deps.bucket.file(newPath).delete({ ignoreNotFound: true });
    fail('aborted', 'L’image a été modifiée entre-temps : rechargez la page et réessayez.');
  }
  await deps.bucket
    .file(oldPath)
    .delete()
    .catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  logger.info('admin.image_relabeled', { imageId, from: oldSpecies, to: speciesId, by: uid });
  return { imageId, speciesId };
}

/** Removes a training image: the document first (no run sees it any more), then the object. */
export async function deleteTrainingImage(
  uid: string,
  data: unknown,
  deps: ImageAdminDeps,
): Promise<{ deleted: true }> {
  const { imageId } = parseInput(deleteTrainingImageRequest, data);
  const ref = deps.db.collection(COLLECTIONS.trainingImages).doc(imageId);
  const snap = await ref.get();
  if (!snap.exists) fail('not-found', 'Image d’entraînement introuvable.');
  await ref.delete();
  await deps.bucket
    .file(snap.get('storagePath') as string)
    .delete()
    .catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  logger.info('admin.image_deleted', { imageId, by: uid });
  return { deleted: true };
}
