/**
 * Storage and Firestore layout shared by functions, trainer and tools, so a path is spelled
 * in one place only.
 */
export const STORAGE_PREFIX = {
  /** Admin uploads waiting for ingestion: incoming/{speciesId}/{batchId}/{fileName} */
  incoming: 'incoming/',
  /** Normalised training images: training/{speciesId}/{sha256}.jpg */
  training: 'training/',
  /** Uploads the ingestion refused, kept for the admin page: rejected/{uploadId}/{fileName} */
  rejected: 'rejected/',
  /** Exported models: models/{version}/manifest.json ... */
  models: 'models/',
  /** Users' photos: users/{uid}/observations/{observationId}/{photo,thumb}.jpg */
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

export function observationPhotoPaths(
  uid: string,
  observationId: string,
): { photo: string; thumbnail: string } {
  const base = `${STORAGE_PREFIX.users}${uid}/observations/${observationId}`;
  return { photo: `${base}/photo.jpg`, thumbnail: `${base}/thumb.jpg` };
}

/**
 * Where an accepted observation enters the training set: an upload under incoming/ like an
 * admin's, in the `observations` batch of its label, named by its review candidate.
 */
export function observationIncomingPath(speciesId: string, candidateId: string): string {
  return `${STORAGE_PREFIX.incoming}${speciesId}/observations/${candidateId}.jpg`;
}
