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
 * Moves a training image to another species: the new object is written first, then the
 * document switches in a transaction (only if still under the old label), then the old object
 * goes. A crash leaves at worst an unreferenced object, never a document pointing at nothing.
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
  const imageUrl = await saveWithDownloadUrl(deps.db, deps.bucket, newPath, bytes);
  await deps.relabelHooks?.copyWritten?.();
  const moved = await runContendedTransaction(deps.db, async (tx) => {
    const current = await tx.get(ref);
    if (!current.exists) return 'gone';
    if (current.get('speciesId') !== oldSpecies) return 'changed';
    tx.update(ref, {
      speciesId,
      storagePath: newPath,
      imageUrl,
      relabeledAt: deps.now(),
      relabeledBy: uid,
      previousLabels: FieldValue.arrayUnion(oldSpecies),
      conflictingLabels: FieldValue.arrayRemove(speciesId),
    });
    return 'moved';
  });
  if (moved !== 'moved') {
    await deps.bucket.file(newPath).delete({ ignoreNotFound: true });
    if (moved === 'gone') fail('not-found', IMAGE_GONE_FR);
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

/**
 * Removes a training image like any erasure (eraseTrainingImage): its JPEG, its cached
 * embeddings, then its record; the runs trained with it count it as erased.
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
