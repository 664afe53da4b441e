export {
  loadOfflineBundle,
  onDeviceResult,
  OfflineModel,
  type BundleReader,
  type LoadOfflineBundleOptions,
  type OfflineAssessment,
  type OfflineIdentification,
  type OfflineSpeciesSheet,
  type OnDeviceResult,
} from './runtime.js';
export {
  PhotoRejected,
  decodeToWorking,
  jpegShrinkOnLoad,
  orient,
  renderViews,
  type DecodedPhoto,
} from './pipeline.js';
export { jpegOrientation, jpegSize, sniffFormat } from './image-header.js';
export {
  OFFLINE_BUNDLE_FORMAT,
  OFFLINE_BUNDLE_FORMAT_VERSION,
  OFFLINE_BUNDLE_MANIFEST,
  OfflineBundleError,
  parseOfflineBundleManifest,
  verifyBundleFile,
  webSha256Hex,
  type OfflineBundleErrorCode,
  type OfflineBundleFile,
  type OfflineBundleManifest,
} from '@wildlens/model/inference';
