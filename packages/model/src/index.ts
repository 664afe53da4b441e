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
  MAX_INPUT_PIXELS,
  WORKING_SIZE,
  cropResize,
  decodeToRgb,
  toInputTensor,
  ttaViews,
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
  BASIS_SAMPLE_SIZE,
  DEFAULT_HEAD_RECIPE,
  MIRROR_VIEW,
  PHOTO_VIEW,
  calibrationSamples,
  crossFittedSamples,
  crossValidateEmbeddings,
  crossValidationReport,
  domainBalancedWeights,
  embedImages,
  prepareFeaturizer,
  reportOf,
  trainFootprintModel,
  type CrossValidationResult,
  type DomainReport,
  type HeadRecipe,
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
  verdictFigures,
  verdictFiguresByDomain,
  verdictReport,
  type EvaluationReport,
  type VerdictFigures,
  type ScoredSample,
  type VerdictReport,
} from './evaluation.js';
export {
  IDENTIFIED_PRECISION_TARGET,
  IDENTIFIED_PRECISION_Z,
  wilsonLowerBound,
  NEVER_IDENTIFIED,
  NOT_FOOTPRINT_FALSE_REJECT_TARGET,
  calibrate,
  chooseNotFootprintThreshold,
  fitTemperature,
  verdictOf,
  type Calibration,
  type CalibrationSample,
} from './calibration.js';
export {
  DEFAULT_FEATURE_RECIPE,
  PhotoFeaturizer,
  basesFingerprint,
  featureLength,
  fitFeaturizer,
  recipeKey,
  type FeatureRecipe,
  type FeatureView,
  type Pooling,
  type ProjectionBases,
} from './features.js';
export {
  bilinearLength,
  bilinearPool,
  fitProjectionBasis,
  type ProjectionBasis,
} from './projection.js';
export { generateSyntheticNegatives } from './synthetic-negatives.js';
export {
  domainOfDataset,
  readDataset,
  readDatasets,
  speciesIdFromFolderName,
  type Dataset,
  type DatasetImage,
} from './dataset.js';
export {
  DEFAULT_BUNDLE_QUANTIZATION,
  buildOfflineBundle,
  stableJson,
  writeOfflineBundle,
  type OfflineBundle,
  type OfflineBundleInput,
} from './offline-bundle.js';
export { float16Bits, quantizeWeights, type QuantizedWeights } from './quantize.js';
export {
  OFFLINE_BUNDLE_FORMAT,
  OFFLINE_BUNDLE_FORMAT_VERSION,
  OFFLINE_BUNDLE_MANIFEST,
  OfflineBundleError,
  parseOfflineBundleManifest,
  verifyBundleFile,
  type OfflineBundleManifest,
  type OfflineBundlePart,
  type WeightQuantization,
} from './offline-bundle-format.js';
