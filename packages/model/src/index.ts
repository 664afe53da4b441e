export { initBackend, getBackendInfo, type BackendInfo } from './backend.js';
export {
  AUTO_BACKBONE_ID,
  BACKBONE_SPECS,
  DEFAULT_BACKBONE_ID,
  PREFERRED_BACKBONE_ID,
  backboneCacheDir,
  locateBackbone,
  resolveBackboneId,
  type BackboneChoice,
  DEFAULT_BACKBONES_DIR,
  DEFAULT_CACHE_DIR,
  getBackboneSpec,
  loadBackbone,
  type Backbone,
  type BackboneSource,
  type BackboneSpec,
  type LoadBackboneOptions,
} from './backbones.js';
export {
  parseUrlBackboneParam,
  urlBackboneId,
  type UrlBackboneDescriptor,
} from './url-backbones.js';
export {
  DEFAULT_AUGMENT,
  MAX_INPUT_PIXELS,
  WORKING_SIZE,
  augmentedView,
  cropResize,
  decodeToRgb,
  toInputTensor,
  ttaViews,
  type AugmentOptions,
  type Preprocessing,
  type RgbImage,
  type TtaMode,
} from './image-pipeline.js';
export {
  DEFAULT_HEAD_OPTIONS,
  trainLinearHead,
  headLogits,
  softmax,
  type HeadTrainingOptions,
  type LinearHead,
} from './classifier.js';
export {
  HEAD_FILE,
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  dirReader,
  loadFootprintModel,
  loadFootprintModelFromDir,
  readModelData,
  saveModel,
  validateManifest,
  type FootprintModelData,
  type FootprintModelManifest,
  type LoadFootprintModelOptions,
  type ModelFileReader,
} from './model-format.js';
export { FootprintModel, type Prediction, type Verdict } from './footprint-model.js';
export {
  DEFAULT_AUGMENT_COUNT,
  DEFAULT_TTA,
  crossValidateEmbeddings,
  embedImages,
  reportOf,
  trainFootprintModel,
  trainingVariants,
  type CrossValidationResult,
  type EmbeddedImage,
  type TrainFootprintModelOptions,
  type TrainingImage,
  type TrainingMetrics,
  type TrainingProgress,
} from './training.js';
export {
  FileEmbeddingCache,
  MemoryEmbeddingCache,
  embeddingCacheKey,
  sha256Hex,
  type EmbeddingCache,
} from './embedding-cache.js';
export {
  evaluateByDomain,
  evaluatePredictions,
  expectedCalibrationError,
  groupedHoldoutSplit,
  groupedStratifiedKFold,
  verdictReport,
  type EvaluationReport,
  type ScoredSample,
  type VerdictReport,
} from './evaluation.js';
export {
  chooseIdentifiedThreshold,
  chooseNotFootprintThreshold,
  fitTemperature,
} from './calibration.js';
export { generateSyntheticNegatives } from './synthetic-negatives.js';
export {
  domainOfDataset,
  readDataset,
  readDatasets,
  speciesIdFromFolderName,
  type Dataset,
  type DatasetImage,
} from './dataset.js';
