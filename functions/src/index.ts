// Entry point: exports only. Each trigger file wires one Firebase trigger to a handler.
export { health } from './triggers/health.js';
export { listSpecies, getSpecies } from './triggers/species.js';
export { listObservations } from './triggers/observations.js';
export { ingestTrainingUpload } from './triggers/ingestion.js';
