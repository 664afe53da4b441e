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
