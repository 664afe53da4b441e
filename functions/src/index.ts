// Entry point: exports only. Each trigger file wires one Firebase trigger to a handler.
export { health } from './triggers/health.js';
export { listSpecies, getSpecies } from './triggers/species.js';
export { listObservations } from './triggers/observations.js';
export { ingestTrainingUpload, sweepIncomingUploads } from './triggers/ingestion.js';
export {
  getObservation,
  deleteObservation,
  setObservationFeedback,
  setObservationShare,
  purgeAnonymousObservations,
} from './triggers/observations.js';
export { identifyFootprint, identify } from './triggers/identify.js';
export { refineObservation, addObservationPhoto } from './triggers/dialogue.js';
export {
  createUploadUrls,
  relabelTrainingImage,
  deleteTrainingImage,
  startTrainingRun,
  promoteModel,
  rollbackModel,
  reapStaleTrainingRuns,
  getTrainingBacklog,
  acceptReviewCandidate,
  rejectReviewCandidate,
  undoReviewDecision,
  getDatasetStats,
  autoRetrainModel,
  exportOfflineBundle,
} from './triggers/admin.js';
export { tryModel } from './triggers/try-model.js';
export { eraseDeletedAccount } from './triggers/accounts.js';
export { exportActiveModelBundle, getOfflineBundle } from './triggers/offline-bundle.js';
export { syncOfflineObservations } from './triggers/offline-sync.js';
