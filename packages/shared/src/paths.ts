/**
 * Storage and Firestore layout shared by functions, trainer and tools, so a path is spelled
 * in one place only.
 */
export const STORAGE_PREFIX = {
  /** Admin uploads waiting for ingestion: incoming/{speciesId}/{batchId}/{fileName} */
  incoming: 'incoming/',
  /** Normalised training images: training/{speciesId}/{sha256}.jpg */
  training: 'training/',
  /**
   * The training images' 256 px copies, for the admin pages: the path of the image they show
   * under this prefix, thumbnails/training/{speciesId}/{sha256}.jpg (trainingThumbnailPath).
   */
  trainingThumbnails: 'thumbnails/training/',
  /** Uploads the ingestion refused, kept for the admin page: rejected/{uploadId}/{fileName} */
  rejected: 'rejected/',
  /** Exported models: models/{version}/manifest.json ... */
  models: 'models/',
  /**
   * Users' photos: users/{uid}/observations/{observationId}/{photo,thumb}.jpg for the first
   * photo of an observation, {photo,thumb}-{photoId}.jpg for each photo added to it.
   */
  users: 'users/',
  /** The trainer's embedding cache: embeddings/{backboneId}/{sha256 of the training JPEG}.bin */
  embeddings: 'embeddings/',
} as const;

export const COLLECTIONS = {
  species: 'species',
  users: 'users',
  observations: 'observations',
  trainingImages: 'trainingImages',
  uploads: 'uploads',
  trainingRuns: 'trainingRuns',
  models: 'models',
  config: 'config',
  /** Observations shared for training, waiting for (or past) an admin's review. */
  reviewCandidates: 'reviewCandidates',
  /** Per-user identification quota tickets: rateLimits/{uid}/tickets/{id}. */
  rateLimits: 'rateLimits',
} as const;

export function trainingImagePath(speciesId: string, sha256: string): string {
  return `${STORAGE_PREFIX.training}${speciesId}/${sha256}.jpg`;
}

/**
 * The thumbnail of the training image stored at `imagePath` (training/{speciesId}/{sha256}.jpg):
 * derived from it alone, so whoever moves or deletes the image finds its thumbnail without
 * reading anything. Undefined for a path outside training/.
 */
export function trainingThumbnailPath(imagePath: string): string | undefined {
  if (!imagePath.startsWith(STORAGE_PREFIX.training)) return undefined;
  return `${STORAGE_PREFIX.trainingThumbnails}${imagePath.slice(STORAGE_PREFIX.training.length)}`;
}

/** Every object of one observation lives under this prefix. */
export function observationStoragePrefix(uid: string, observationId: string): string {
  return `${STORAGE_PREFIX.users}${uid}/observations/${observationId}/`;
}

/**
 * The objects of one photo of an observation: the first photo's names (no `photoId`), or those
 * of a photo added later, named by its own id rather than its position, so that two additions
 * racing for the same position never write the same object.
 */
export function observationPhotoPaths(
  uid: string,
  observationId: string,
  photoId?: string,
): { photo: string; thumbnail: string } {
  const base = observationStoragePrefix(uid, observationId);
  const suffix = photoId ? `-${photoId}` : '';
  return { photo: `${base}photo${suffix}.jpg`, thumbnail: `${base}thumb${suffix}.jpg` };
}

/**
 * Where an accepted observation enters the training set: an upload under incoming/ like an
 * admin's, in the `observations` batch of its label, named by its review candidate.
 */
export function observationIncomingPath(speciesId: string, candidateId: string): string {
  return `${STORAGE_PREFIX.incoming}${speciesId}/observations/${candidateId}.jpg`;
}
