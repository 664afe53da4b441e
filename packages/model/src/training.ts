import { loadSpeciesCatalog, type DialogueParameters } from '@wildlens/shared';
import {
  getBackboneSpec,
  loadBackbone,
  resolveBackboneId,
  type Backbone,
  type BackboneChoice,
  type LoadBackboneOptions,
} from './backbones.js';
import {
  MIN_DOMAIN_SAMPLES,
  NEVER_IDENTIFIED,
  calibrate,
  calibrationFor,
  rate,
  verdictOf,
  type Calibration,
  type CalibrationSample,
} from './calibration.js';
import {
  classCentroids,
  headLogits,
  maxCentroidSimilarity,
  softmax,
  trainLinearHead,
  type HeadTrainingOptions,
  type LinearHead,
} from './classifier.js';
import {
  fitDialogueParameters,
  type DialogueFitOptions,
  type DialoguePhoto,
} from './dialogue-fitting.js';
import { embeddingCacheKey, sha256Hex, type EmbeddingCache } from './embedding-cache.js';
import {
  evaluateByDomain,
  groupedStratifiedKFold,
  verdictFiguresByDomain,
  type EvaluationReport,
  type ScoredSample,
  type VerdictReport,
} from './evaluation.js';
import {
  DEFAULT_FEATURE_RECIPE,
  PhotoFeaturizer,
  fitFeaturizer,
  mapsTag,
  recipeFor,
  recipeKey,
  workingShortSide,
  type BasesCache,
  type FeatureRecipe,
  type FitExchange,
  type ProjectionBases,
} from './features.js';
import { FootprintModel } from './footprint-model.js';
import type { PhotoRegion, RgbImage } from './image-pipeline.js';
import {
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  type FootprintModelData,
  type FootprintModelManifest,
} from './model-format.js';
import { generateSyntheticNegatives } from './synthetic-negatives.js';

/** Images recorded without a domain. */
const UNSPECIFIED_DOMAIN = 'unspecified';

export interface TrainingImage {
  id: string;
  label: string;
  group?: string;
  /** Kind of photo ('crop', 'field', …): metrics are reported per domain. Default 'unspecified'. */
  domain?: string;
  /**
   * SHA-256 of the bytes `read` returns, when known beforehand: then `read` is only called for
   * views missing from the embedding cache (a cached retrain never fetches the photos).
   */
  sha256?: string;
  read(): Promise<Buffer>;
}

export interface TrainingProgress {
  phase:
    | 'loading-backbone'
    | 'fitting-features'
    | 'embedding'
    | 'cross-validation'
    | 'training'
    | 'calibration'
    | 'done';
  done?: number;
  total?: number;
  epoch?: number;
  epochs?: number;
  loss?: number;
  accuracy?: number;
}

/** Feature rows of one photo: its own ('photo') and its mirror image's ('mirror'). */
export interface EmbeddedImage {
  id: string;
  label: string;
  group?: string;
  domain?: string;
  sha256: string;
  views: Map<string, Float32Array>;
}

/** The photo as taken, and mirrored: tracks have no handedness, so the mirror is a free example. */
export const PHOTO_VIEW = 'photo';
export const MIRROR_VIEW = 'mirror';

/** The print a hiker framed on the photo: a row scored by the evaluation, never trained on. */
export const REGION_VIEW = 'region';

export interface EmbedOptions {
  cache?: EmbeddingCache;
  /** Rows per photo (default both the photo and its mirror). */
  views?: string[];
  /** A frame drawn on some photos: their REGION_VIEW row is that region's features. */
  frames?: (image: TrainingImage) => PhotoRegion | undefined;
  onProgress?: (p: TrainingProgress) => void;
}

/** The cache variant of a view (a framed row is keyed by its frame too). */
function viewVariant(featurizerKey: string, view: string, frame?: PhotoRegion): string {
  if (view !== REGION_VIEW || !frame) return `${featurizerKey}/${view}`;
  const f = [frame.x, frame.y, frame.width, frame.height].map((v) => v.toFixed(4)).join(',');
  return `${featurizerKey}/${view}@${f}`;
}

/**
 * Feature rows of every image, reusing cached rows (key: content hash + backbone + featurizer
 * key + view), so a retrain with the same bases only computes new photos. The photo row of an
 * image whose maps the featurizer kept from its bases fit is pooled from them (the same
 * numbers, without the backbone); each image's kept maps are freed once it is done.
 */
export async function embedImages(
  images: TrainingImage[],
  featurizer: PhotoFeaturizer,
  options: EmbedOptions = {},
): Promise<EmbeddedImage[]> {
  const views = options.views ?? [PHOTO_VIEW, MIRROR_VIEW];
  const backboneId = featurizer.backbone.spec.id;
  const out: EmbeddedImage[] = [];
  let done = 0;
  for (const image of images) {
    let bytes = image.sha256 ? undefined : await image.read();
    const sha256 = image.sha256 ?? sha256Hex(bytes as Buffer);
    const rows = new Map<string, Float32Array>();
    const missing: string[] = [];
    const frame = options.frames?.(image);
    const imageViews = frame ? [...views, REGION_VIEW] : views;
    const keyOf = (view: string) =>
      embeddingCacheKey(sha256, backboneId, viewVariant(featurizer.key, view, frame));
    for (const view of imageViews) {
      const cached = await options.cache?.get(keyOf(view));
      if (cached) rows.set(view, cached);
      else missing.push(view);
    }
    if (missing.length) {
      // Rows from the maps the bases fit kept (they are those of features(decoded), mirrored
      // for the mirror row): the photo row of a sample photo, rows a shard computed ahead.
      const kept = new Map<string, Float32Array>();
      for (const view of missing) {
        const row =
          view === PHOTO_VIEW || view === MIRROR_VIEW
            ? featurizer.keptFeatures(sha256, view === MIRROR_VIEW)
            : undefined;
        if (row) kept.set(view, row);
      }
      const rest = missing.filter((v) => !kept.has(v));
      // Read first, as before: a photo that cannot be read any more (erased) caches no row.
      if (rest.length) bytes ??= await image.read();
      for (const [view, row] of kept) {
        rows.set(view, row);
        await options.cache?.set(keyOf(view), row);
      }
      const decoded = rest.some((v) => v !== REGION_VIEW)
        ? await featurizer.decode(bytes as Buffer)
        : undefined;
      for (const view of rest) {
        const row =
          view === REGION_VIEW
            ? await featurizer.features(await featurizer.decode(bytes as Buffer, frame))
            : await featurizer.features(decoded as RgbImage, view === MIRROR_VIEW);
        rows.set(view, row);
        await options.cache?.set(keyOf(view), row);
      }
    }
    featurizer.forgetKeptMaps(sha256);
    out.push({
      id: image.id,
      label: image.label,
      group: image.group,
      domain: image.domain,
      sha256,
      views: rows,
    });
    options.onProgress?.({ phase: 'embedding', done: ++done, total: images.length });
  }
  return out;
}

export interface HeadRecipe {
  /** Rows of each training image. */
  trainViews: string[];
  /** The row a test image is scored on. */
  testView: string;
  head: Partial<HeadTrainingOptions>;
  /** Each domain weighs the same in the loss, whatever its number of photos (default true). */
  balanceDomains?: boolean;
}

export const DEFAULT_HEAD_RECIPE: HeadRecipe = {
  trainViews: [PHOTO_VIEW, MIRROR_VIEW],
  testView: PHOTO_VIEW,
  head: {},
  balanceDomains: true,
};

function rowsOf(
  embedded: EmbeddedImage[],
  indices: number[],
  views: string[],
  labelIndex: Map<string, number>,
  balanceDomains = false,
) {
  const first = embedded[indices[0] as number]?.views.get(views[0] as string);
  if (!first) throw new Error('rowsOf: missing embeddings');
  const d = first.length;
  const n = indices.length * views.length;
  const features = new Float32Array(n * d);
  const labels = new Int32Array(n);
  const domains: string[] = [];
  let row = 0;
  for (const i of indices) {
    const image = embedded[i] as EmbeddedImage;
    for (const v of views) {
      const e = image.views.get(v);
      if (!e) throw new Error(`missing view ${v} of ${image.id}`);
      if (e.length !== d)
        throw new Error(`view ${v} of ${image.id} has ${e.length} values, not ${d}`);
      features.set(e, row * d);
      labels[row++] = labelIndex.get(image.label) as number;
      domains.push(image.domain ?? UNSPECIFIED_DOMAIN);
    }
  }
  return {
    features,
    labels,
    sampleWeights: balanceDomains ? domainBalancedWeights(domains) : undefined,
  };
}

/** Weights giving every domain the same total weight (mean weight 1). */
export function domainBalancedWeights(domains: string[]): Float32Array {
  const counts = new Map<string, number>();
  for (const d of domains) counts.set(d, (counts.get(d) ?? 0) + 1);
  const perDomain = domains.length / counts.size;
  return Float32Array.from(domains, (d) => perDomain / (counts.get(d) as number));
}

/**
 * The domains a domain head can learn: those with at least MIN_DOMAIN_SAMPLES photos, when there
 * are two or more (sorted); none otherwise.
 */
export function learnableDomains(domains: string[]): string[] {
  const counts = new Map<string, number>();
  for (const d of domains) counts.set(d, (counts.get(d) ?? 0) + 1);
  const big = [...counts].filter(([, n]) => n >= MIN_DOMAIN_SAMPLES).map(([d]) => d);
  return big.length >= 2 && big.length === counts.size ? big.sort() : [];
}

/**
 * A softmax regression telling the photo's domain (e.g. a tight crop from a whole field
 * photo) from its features: photos are then calibrated within their predicted domain.
 */
function trainDomainHead(
  embedded: EmbeddedImage[],
  indices: number[],
  view: string,
  domains: string[],
  seed: number,
): LinearHead {
  const domainIndex = new Map(domains.map((d, i) => [d, i]));
  const first = embedded[indices[0] as number]?.views.get(view) as Float32Array;
  const features = new Float32Array(indices.length * first.length);
  const labels = new Int32Array(indices.length);
  indices.forEach((i, row) => {
    const image = embedded[i] as EmbeddedImage;
    features.set(image.views.get(view) as Float32Array, row * first.length);
    labels[row] = domainIndex.get(image.domain ?? UNSPECIFIED_DOMAIN) as number;
  });
  return trainLinearHead(features, labels, domains.length, { seed, l2: 0.1 });
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if ((v[i] as number) > (v[best] as number)) best = i;
  return best;
}

export interface CrossValidationResult {
  labels: string[];
  truth: number[];
  domains: string[];
  /** Out-of-fold predicted domain per image (when a domain head could be learnt). */
  predictedDomains?: string[];
  /** Out-of-fold logits (uncalibrated) per image. */
  logits: Float32Array[];
  /** Out-of-fold OOD scores (centroids of the training folds). */
  oodScores: number[];
  folds: number[];
  /** Each image's group (photos of one trail: crops of one source photo). */
  groups: string[];
  /** Out-of-fold logits of other rows of the images that have them (e.g. a framed region). */
  viewLogits?: Record<string, (Float32Array | undefined)[]>;
}

export interface CrossValidationOptions {
  /** Rows scored with each fold's head besides the test view, where an image has them. */
  scoreViews?: string[];
}

/** Grouped stratified K-fold on precomputed feature rows. */
export function crossValidateEmbeddings(
  embedded: EmbeddedImage[],
  labels: string[],
  recipe: HeadRecipe,
  folds = 5,
  seed = 1,
  onFold?: (fold: number) => void,
  options: CrossValidationOptions = {},
): CrossValidationResult {
  const labelIndex = new Map(labels.map((l, i) => [l, i]));
  const assignment = groupedStratifiedKFold(embedded, folds, seed);
  const logits: Float32Array[] = new Array(embedded.length);
  const oodScores: number[] = new Array(embedded.length);
  const domains = embedded.map((e) => e.domain ?? UNSPECIFIED_DOMAIN);
  const headDomains = learnableDomains(domains);
  const predictedDomains: string[] = new Array(embedded.length);
  const scoreViews = options.scoreViews ?? [];
  const viewLogits: Record<string, (Float32Array | undefined)[]> = Object.fromEntries(
    scoreViews.map((v) => [v, new Array<Float32Array | undefined>(embedded.length)]),
  );
  for (let f = 0; f < folds; f++) {
    const train = assignment.flatMap((a, i) => (a === f ? [] : [i]));
    const test = assignment.flatMap((a, i) => (a === f ? [i] : []));
    if (!test.length) continue;
    const rows = rowsOf(embedded, train, recipe.trainViews, labelIndex, recipe.balanceDomains);
    const head = trainLinearHead(rows.features, rows.labels, labels.length, {
      seed,
      ...recipe.head,
      sampleWeights: rows.sampleWeights,
    });
    const own = rowsOf(embedded, train, [recipe.testView], labelIndex);
    const centroids = classCentroids(own.features, own.labels, labels.length);
    const domainHead = headDomains.length
      ? trainDomainHead(embedded, train, recipe.testView, headDomains, seed)
      : undefined;
    for (const i of test) {
      const e = (embedded[i] as EmbeddedImage).views.get(recipe.testView) as Float32Array;
      logits[i] = headLogits(head, e);
      oodScores[i] = maxCentroidSimilarity(centroids, e);
      if (domainHead)
        predictedDomains[i] = headDomains[argmax(headLogits(domainHead, e))] as string;
      for (const view of scoreViews) {
        const row = (embedded[i] as EmbeddedImage).views.get(view);
        if (row) (viewLogits[view] as (Float32Array | undefined)[])[i] = headLogits(head, row);
      }
    }
    onFold?.(f);
  }
  return {
    labels,
    truth: embedded.map((e) => labelIndex.get(e.label) as number),
    domains,
    ...(headDomains.length ? { predictedDomains } : {}),
    logits,
    oodScores,
    folds: assignment,
    groups: embedded.map((e) => `${e.label}/${e.group ?? e.id}`),
    ...(scoreViews.length ? { viewLogits } : {}),
  };
}

export function calibrationSamples(cv: CrossValidationResult): CalibrationSample[] {
  return cv.logits.map((logits, i) => ({
    logits,
    truth: cv.truth[i] as number,
    oodScore: cv.oodScores[i] as number,
    domain: cv.domains[i] as string,
    ...(cv.predictedDomains ? { predictedDomain: cv.predictedDomains[i] } : {}),
  }));
}

/**
 * Held-out photos as the API stores them (calibrated probabilities, predicted domain, the
 * not-a-footprint gate), under `calibration`, for the dialogue's fitting and evaluation.
 */
export function dialoguePhotos(
  cv: CrossValidationResult,
  calibration: Calibration,
  indices: number[] = cv.logits.map((_, i) => i),
): DialoguePhoto[] {
  return indices.map((i) => {
    const predictedDomain = cv.predictedDomains?.[i];
    const group = calibrationFor(calibration, predictedDomain);
    return {
      probabilities: softmax(cv.logits[i] as Float32Array, group.temperature),
      truth: cv.truth[i] as number,
      domain: cv.domains[i] as string,
      ...(predictedDomain ? { predictedDomain } : {}),
      notFootprint: (cv.oodScores[i] as number) < group.notFootprint.threshold,
      group: cv.groups[i] as string,
    };
  });
}

/** The dialogue's parameters, when every label is a catalogue species (the simulated hiker needs its traits). */
export function fitDialogue(
  cv: CrossValidationResult,
  calibration: Calibration,
  options: DialogueFitOptions & { seed: number },
  indices?: number[],
): DialogueParameters | undefined {
  const species = loadSpeciesCatalog().species;
  if (!cv.labels.every((l) => species.some((s) => s.id === l))) return undefined;
  return fitDialogueParameters(
    dialoguePhotos(cv, calibration, indices),
    cv.labels,
    species,
    options,
  );
}

/**
 * What users would have been answered on each held-out photo: each fold's photos are judged
 * with a temperature and thresholds calibrated on the other folds only, so the verdict figures
 * (identified precision, false rejects) are held-out too, not fitted on the photos they score.
 */
export function crossFittedSamples(cv: CrossValidationResult): ScoredSample[] {
  const samples = calibrationSamples(cv);
  const out: ScoredSample[] = new Array(samples.length);
  for (const fold of new Set(cv.folds)) {
    const others = samples.filter((_, i) => cv.folds[i] !== fold);
    const calibration = calibrate(others);
    samples.forEach((s, i) => {
      if (cv.folds[i] !== fold) return;
      const group = calibrationFor(calibration, s.predictedDomain);
      const probabilities = softmax(s.logits, group.temperature);
      out[i] = {
        probabilities,
        truth: s.truth,
        domain: s.domain,
        verdict: verdictOf(
          Math.max(...probabilities),
          s.oodScore < group.notFootprint.threshold,
          group.identified.threshold,
        ),
      };
    });
  }
  return out;
}

export type DomainReport = VerdictReport & { byDomain: Record<string, VerdictReport> };

/** Held-out figures of a cross-validation, overall and per domain (see crossFittedSamples). */
export function crossValidationReport(cv: CrossValidationResult): DomainReport {
  return evaluateByDomain(crossFittedSamples(cv), cv.labels);
}

export function reportOf(cv: CrossValidationResult, temperature = 1): EvaluationReport {
  return evaluateByDomain(
    cv.logits.map((l, i) => ({
      probabilities: softmax(l, temperature),
      truth: cv.truth[i] as number,
      domain: cv.domains[i] as string,
      verdict: 'uncertain' as const,
    })),
    cv.labels,
  );
}

export interface TrainFootprintModelOptions {
  images: TrainingImage[];
  /** Defaults to the sorted distinct labels of `images`. */
  labels?: string[];
  /** A backbone id, or 'auto' / undefined for resolveBackboneId's choice. */
  backboneId?: string;
  /** A choice the caller already resolved (the trainer resolves once per run); wins over backboneId. */
  backboneChoice?: BackboneChoice;
  /** A featurizer the caller already prepared (bases fitted): its backbone and recipe are used. */
  featurizer?: PhotoFeaturizer;
  /** Feature recipe (default DEFAULT_FEATURE_RECIPE). */
  features?: FeatureRecipe;
  /** Bases to reuse (e.g. the active model's, so cached features stay valid); fitted when absent. */
  bases?: ProjectionBases;
  basesCache?: BasesCache;
  head?: Partial<HeadTrainingOptions>;
  /** Each domain weighs the same in the head's loss (default true). */
  balanceDomains?: boolean;
  /** Folds of the out-of-fold pass used for calibration and metrics (0 = skip, keep T=1). */
  calibrationFolds?: number;
  /** Synthetic non-footprint images used to measure the false-accept rate (default 36). */
  syntheticNegatives?: number;
  onProgress?: (p: TrainingProgress) => void;
  embeddingCache?: EmbeddingCache;
  seed?: number;
  version?: string;
  backboneOptions?: LoadBackboneOptions;
  /** Extra fields copied into manifest.training. */
  trainingInfo?: Record<string, unknown>;
}

export interface TrainingMetrics {
  /** Held-out (out-of-fold, cross-fitted) figures, overall and per domain. */
  crossValidation?: DomainReport & { eceBeforeCalibration: number; folds: number };
  temperature: number;
  identified: Calibration['identified'];
  /** Calibration of each predicted domain (when the photos have several domains). */
  byPredictedDomain?: Calibration['byPredictedDomain'];
  notFootprint: Calibration['notFootprint'] & {
    syntheticFalseAcceptRate: number;
    syntheticCount: number;
  };
  timingsMs: {
    fitting: number;
    embedding: number;
    crossValidation: number;
    training: number;
    total: number;
  };
  images: number;
  imagesByDomain: Record<string, number>;
  /** The backbone used, and why (`auto` resolution). */
  backbone: BackboneChoice;
  /** Identifies the features (recipe + bases), as in embedding cache keys. */
  featurizer: string;
}

/** Photos the bases are fitted on (a deterministic sample: the first by content hash). */
export const BASIS_SAMPLE_SIZE = 128;

/** The photos whose maps the bases are fitted on, by content hash: the first ones in hash order. */
export function basisSampleOf(hashes: string[]): string[] {
  return [...hashes].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, BASIS_SAMPLE_SIZE);
}

/**
 * Prepares the featurizer of a training run: loads nothing itself (the backbone is given),
 * reuses `bases` when given, else fits them on a deterministic sample of the images.
 */
export async function prepareFeaturizer(
  images: TrainingImage[],
  backbone: Backbone,
  options: {
    features?: FeatureRecipe;
    bases?: ProjectionBases;
    /** Keeps fitted bases by sample (the CLIs: the same photos give the same bases). */
    basesCache?: BasesCache;
    /**
     * When bases are fitted, keep the sample photos' feature maps so that embedImages pools
     * their photo rows instead of running the backbone again (default true; ≤ 136 MB for the
     * 128 photos, freed as they are embedded: see fitFeaturizer). A set of SHA-256: keep only
     * the sample photos among them (a shard's own photos, the only ones it embeds). Nothing is
     * kept when the bases are given or read from the cache.
     */
    keepSampleMaps?: boolean | ReadonlySet<string>;
    /**
     * When bases are fitted, shares the fit with the other tasks of a sharded run (the same
     * bases, bit for bit: see FitExchange): called with the key of the sample (the bases
     * cache's) and the tag of the maps (mapsTag: backbone and recipe).
     */
    fitExchange?: (fitKey: string, mapsTag: string) => FitExchange;
    onProgress?: (p: TrainingProgress) => void;
  } = {},
): Promise<PhotoFeaturizer> {
  const recipe = recipeFor(backbone, options.features ?? DEFAULT_FEATURE_RECIPE);
  if (options.bases) {
    try {
      return new PhotoFeaturizer(backbone, recipe, options.bases);
    } catch {
      // Bases of another recipe or backbone: fit new ones below.
    }
  }
  // Same sample whatever the upload order, so sharded tasks fit the same bases.
  const withHashes = await Promise.all(
    images.map(async (image) => ({
      image,
      key: image.sha256 ?? sha256Hex(await image.read()),
    })),
  );
  withHashes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  // The same backbone, recipe and sample give the same bases: a CLI rerun reads them back.
  const cacheKey = sha256Hex(
    Buffer.from(
      [
        backbone.spec.id,
        recipeKey(recipe),
        ...withHashes.slice(0, BASIS_SAMPLE_SIZE).map((w) => w.key),
      ].join('\n'),
    ),
  );
  const cached = await options.basesCache?.get(cacheKey);
  if (cached) {
    try {
      return new PhotoFeaturizer(backbone, recipe, cached);
    } catch {
      // Unreadable for this recipe: fit again below.
    }
  }
  const featurizer = await fitFeaturizer(
    withHashes.map((w) => ({ read: () => w.image.read(), sha256: w.key })),
    backbone,
    recipe,
    {
      sampleSize: BASIS_SAMPLE_SIZE,
      keepMaps:
        typeof options.keepSampleMaps === 'object'
          ? (sha256) => (options.keepSampleMaps as ReadonlySet<string>).has(sha256)
          : (options.keepSampleMaps ?? true),
      onProgress: (done, total) => options.onProgress?.({ phase: 'fitting-features', done, total }),
      exchange: options.fitExchange?.(cacheKey, mapsTag(backbone, recipe)),
    },
  );
  await options.basesCache?.set(cacheKey, featurizer.bases);
  return featurizer;
}

/** Synthetic negatives trainFootprintModel embeds by default. */
export const DEFAULT_SYNTHETIC_NEGATIVES = 36;

/**
 * The synthetic images (not footprints) on which trainFootprintModel measures the
 * not_a_footprint gate's false accepts, photo row only: the same for the same count and seed, so
 * the tasks of a sharded run can embed them into the cache ahead of the training.
 */
export async function syntheticNegativeImages(
  count = DEFAULT_SYNTHETIC_NEGATIVES,
  seed = 1,
): Promise<TrainingImage[]> {
  const negatives = count > 0 ? await generateSyntheticNegatives(count, seed + 100) : [];
  return negatives.map((n, i) => ({
    id: `synthetic-${n.kind}-${i}`,
    label: 'not-a-footprint',
    read: async () => n.image,
  }));
}

export async function trainFootprintModel(
  options: TrainFootprintModelOptions,
): Promise<{ model: FootprintModel; metrics: TrainingMetrics }> {
  const t0 = performance.now();
  const seed = options.seed ?? 1;
  const labels = options.labels ?? [...new Set(options.images.map((i) => i.label))].sort();
  if (labels.length < 2) throw new Error('training needs at least 2 species');
  const progress = options.onProgress ?? (() => {});
  progress({ phase: 'loading-backbone' });
  const backboneChoice =
    options.backboneChoice ??
    (options.featurizer
      ? { id: options.featurizer.backbone.spec.id, reason: 'requested' }
      : await resolveBackboneId(options.backboneId, options.backboneOptions));
  const backbone =
    options.featurizer?.backbone ??
    (await loadBackbone(backboneChoice.id, options.backboneOptions));
  const ownsBackbone = !options.featurizer;
  let ownFeaturizer: PhotoFeaturizer | undefined;
  try {
    const featurizer =
      options.featurizer ??
      (ownFeaturizer = await prepareFeaturizer(options.images, backbone, {
        features: options.features,
        bases: options.bases,
        basesCache: options.basesCache,
        onProgress: progress,
      }));
    const t1 = performance.now();
    const embedded = await embedImages(options.images, featurizer, {
      cache: options.embeddingCache,
      onProgress: progress,
    });
    // Every image is embedded: kept maps left (none, unless a caller's featurizer kept some of
    // other photos) would serve nothing.
    featurizer.forgetKeptMaps();
    const t2 = performance.now();
    const recipe: HeadRecipe = {
      ...DEFAULT_HEAD_RECIPE,
      head: { seed, ...options.head },
      balanceDomains: options.balanceDomains ?? true,
    };

    let calibration: Calibration | undefined;
    let dialogue: DialogueParameters | undefined;
    let crossValidation: TrainingMetrics['crossValidation'];
    const folds = Math.min(
      options.calibrationFolds ?? 5,
      new Set(embedded.map((e) => `${e.label}/${e.group ?? e.id}`)).size,
    );
    if (folds >= 2) {
      progress({ phase: 'cross-validation' });
      const cv = crossValidateEmbeddings(embedded, labels, recipe, folds, seed, (f) =>
        progress({ phase: 'cross-validation', done: f + 1, total: folds }),
      );
      progress({ phase: 'calibration' });
      calibration = calibrate(calibrationSamples(cv));
      dialogue = fitDialogue(cv, calibration, { seed });
      crossValidation = {
        ...crossValidationReport(cv),
        eceBeforeCalibration: reportOf(cv).ece,
        folds,
      };
    }
    const t3 = performance.now();

    progress({ phase: 'training' });
    const labelIndex = new Map(labels.map((l, i) => [l, i]));
    const all = embedded.map((_, i) => i);
    const rows = rowsOf(embedded, all, recipe.trainViews, labelIndex, recipe.balanceDomains);
    const epochs = recipe.head.epochs;
    const head = trainLinearHead(rows.features, rows.labels, labels.length, {
      ...recipe.head,
      sampleWeights: rows.sampleWeights,
      onEpoch: (epoch, loss) => progress({ phase: 'training', epoch, epochs, loss }),
    });
    const own = rowsOf(embedded, all, [recipe.testView], labelIndex);
    const centroids = classCentroids(own.features, own.labels, labels.length);
    const headDomains = calibration?.byPredictedDomain
      ? learnableDomains(embedded.map((e) => e.domain ?? UNSPECIFIED_DOMAIN))
      : [];
    const domainHead = headDomains.length
      ? {
          labels: headDomains,
          head: trainDomainHead(embedded, all, recipe.testView, headDomains, seed),
        }
      : undefined;
    const t4 = performance.now();

    const imagesByDomain: Record<string, number> = {};
    for (const e of embedded) {
      const d = e.domain ?? UNSPECIFIED_DOMAIN;
      imagesByDomain[d] = (imagesByDomain[d] ?? 0) + 1;
    }
    const backboneId = backbone.spec.id;
    const manifest: FootprintModelManifest = {
      format: MODEL_FORMAT,
      formatVersion: MODEL_FORMAT_VERSION,
      version: options.version ?? new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, ''),
      createdAt: new Date().toISOString(),
      labels,
      backbone: {
        id: backboneId,
        featureDim: head.featureDim,
        sources: backboneId.split('+').map((part) => {
          const spec = getBackboneSpec(part);
          return { id: spec.id, sources: spec.sources, license: spec.license, origin: spec.origin };
        }),
      },
      preprocessing: {
        decoder: 'sharp',
        workingShortSide: workingShortSide(featurizer.recipe),
        inputSize: backbone.spec.inputSize,
        normalisation: backbone.spec.preprocessing,
        crop: 'center-square',
      },
      features: featurizer.recipe,
      ...(dialogue ? { dialogue } : {}),
      tta: { mode: 'center', views: 1 },
      temperature: calibration?.temperature ?? 1,
      thresholds: {
        // Uncalibrated (no held-out photos): never "identified".
        identified: calibration?.identified.threshold ?? NEVER_IDENTIFIED,
        notFootprint: calibration?.notFootprint.threshold ?? -1,
        oodScore: 'max-centroid-cosine',
      },
      ...(domainHead && calibration?.byPredictedDomain
        ? {
            domainCalibration: {
              domains: domainHead.labels,
              byDomain: Object.fromEntries(
                Object.entries(calibration.byPredictedDomain).map(([d, c]) => [
                  d,
                  {
                    temperature: c.temperature,
                    identified: c.identified.threshold,
                    notFootprint: c.notFootprint.threshold,
                  },
                ]),
              ),
            },
          }
        : {}),
      metrics: {},
      training: {
        images: embedded.length,
        imagesByDomain,
        rows: recipe.trainViews,
        balanceDomains: recipe.balanceDomains,
        head: { ...recipe.head, type: 'softmax-regression' },
        seed,
        backboneChoice: backboneChoice.reason,
        featurizer: featurizer.key,
        ...options.trainingInfo,
      },
      head: {
        file: 'head.bin',
        dtype: 'float32',
        featureDim: head.featureDim,
        numClasses: labels.length,
        tensors: [],
      },
    };
    const data: FootprintModelData = {
      manifest,
      head,
      centroids,
      bases: featurizer.bases,
      ...(domainHead ? { domainHead: domainHead.head } : {}),
    };
    const model = await FootprintModel.create(data, options.backboneOptions);

    // False-accept rate of the not_a_footprint gate on synthetic images the model never saw,
    // embedded through the cache too, so a retrain does not recompute them.
    const negatives = await syntheticNegativeImages(options.syntheticNegatives, seed);
    const negativeEmbedded = await embedImages(negatives, featurizer, {
      cache: options.embeddingCache,
      views: [PHOTO_VIEW],
    });
    const threshold = manifest.thresholds.notFootprint;
    const negativeScores = negativeEmbedded.map(
      (n) => model.classify(n.views.get(PHOTO_VIEW) as Float32Array).oodScore,
    );
    const metrics: TrainingMetrics = {
      crossValidation,
      temperature: manifest.temperature,
      ...(calibration?.byPredictedDomain
        ? { byPredictedDomain: calibration.byPredictedDomain }
        : {}),
      identified: calibration?.identified ?? {
        threshold: manifest.thresholds.identified,
        precision: 0,
        coverage: 0,
        byDomain: {},
      },
      notFootprint: {
        ...(calibration?.notFootprint ?? { threshold, falseRejectRate: 0, byDomain: {} }),
        syntheticFalseAcceptRate: rate(negativeScores, (s) => s >= threshold),
        syntheticCount: negatives.length,
      },
      timingsMs: {
        fitting: t1 - t0,
        embedding: t2 - t1,
        crossValidation: t3 - t2,
        training: t4 - t3,
        total: performance.now() - t0,
      },
      images: embedded.length,
      imagesByDomain,
      backbone: backboneChoice,
      featurizer: featurizer.key,
    };
    manifest.metrics = summariseMetrics(metrics);
    progress({ phase: 'done' });
    return { model, metrics };
  } finally {
    ownFeaturizer?.dispose();
    if (ownsBackbone) backbone.dispose();
  }
}

function summariseMetrics(m: TrainingMetrics): Record<string, unknown> {
  const cv = m.crossValidation;
  return {
    crossValidation: cv
      ? {
          folds: cv.folds,
          ...verdictFiguresByDomain(cv),
          eceBeforeCalibration: cv.eceBeforeCalibration,
          meanConfidence: cv.meanConfidence,
          perSpeciesRecall: cv.perSpeciesRecall,
        }
      : null,
    identified: m.identified,
    notFootprint: m.notFootprint,
    ...(m.byPredictedDomain ? { byPredictedDomain: m.byPredictedDomain } : {}),
    images: m.images,
    imagesByDomain: m.imagesByDomain,
  };
}
