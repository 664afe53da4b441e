/**
 * `@wildlens/model/inference`: the browser-safe part of the library (tfjs-core, zod, plain JS;
 * no sharp, no fs, no Node built-ins), what the on-device runtime (packages/offline-runtime)
 * shares with the server so both compute the same features and verdicts.
 */
export {
  MAX_INPUT_PIXELS,
  WORKING_SIZE,
  cropBoxPixels,
  toInputTensor,
  wholeViewSize,
  type CropBox,
  type Preprocessing,
  type RgbImage,
} from './tensor-input.js';
export {
  DEFAULT_FEATURE_RECIPE,
  basisName,
  disposeMaps,
  featureLength,
  featureMaps,
  poolFeatures,
  workingShortSide,
  type FeatureRecipe,
  type FeatureView,
  type Pooling,
  type ProjectionBases,
  type RenderedViews,
  type SpatialBackbone,
} from './feature-maps.js';
export {
  basisTensors,
  bilinearLength,
  bilinearPool,
  type BasisTensors,
  type ProjectionBasis,
} from './bilinear.js';
export { adaptInput } from './ensemble-input.js';
export {
  headLogits,
  l2Normalise,
  maxCentroidSimilarity,
  softmax,
  type LinearHead,
} from './head-math.js';
export {
  classifyEmbedding,
  type ClassifierData,
  type Prediction,
  type Verdict,
} from './classify.js';
export {
  HEAD_FILE,
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  decodeHead,
  validateManifest,
  type FootprintModelData,
  type FootprintModelManifest,
  type HeadTensorEntry,
} from './model-manifest.js';
export {
  OFFLINE_BUNDLE_FORMAT,
  OFFLINE_BUNDLE_FORMAT_VERSION,
  OFFLINE_BUNDLE_MANIFEST,
  OFFLINE_BUNDLE_MODEL_MANIFEST,
  OFFLINE_BUNDLE_SPECIES,
  OfflineBundleError,
  parseOfflineBundleManifest,
  verifyBundleFile,
  webSha256Hex,
  type OfflineBundleErrorCode,
  type OfflineBundleFile,
  type OfflineBundleManifest,
  type OfflineBundlePart,
  type WeightQuantization,
} from './offline-bundle-format.js';
