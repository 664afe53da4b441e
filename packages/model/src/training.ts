import {
  getBackboneSpec,
  loadBackbone,
  resolveBackboneId,
  type Backbone,
  type BackboneChoice,
  type LoadBackboneOptions,
} from './backbones.js';
import {
  chooseIdentifiedThreshold,
  chooseNotFootprintThreshold,
  fitTemperature,
  rate,
} from './calibration.js';
import {
  classCentroids,
  headLogits,
  maxCentroidSimilarity,
  softmax,
  trainLinearHead,
  type HeadTrainingOptions,
} from './classifier.js';
import {
  augmentVariantNames,
  embedRendered,
  meanOf,
  renderVariant,
  ttaVariantNames,
} from './embedding.js';
import { embeddingCacheKey, sha256Hex, type EmbeddingCache } from './embedding-cache.js';
import {
  evaluatePredictions,
  groupedStratifiedKFold,
  type EvaluationReport,
} from './evaluation.js';
import { FootprintModel } from './footprint-model.js';
import { decodeToRgb, WORKING_SIZE, type TtaMode } from './image-pipeline.js';
import {
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  type FootprintModelData,
  type FootprintModelManifest,
} from './model-format.js';
import { generateSyntheticNegatives } from './synthetic-negatives.js';

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
    'loading-backbone' | 'embedding' | 'cross-validation' | 'training' | 'calibration' | 'done';
  done?: number;
  total?: number;
  epoch?: number;
  epochs?: number;
  loss?: number;
  accuracy?: number;
}

/** Embeddings of one image, per view variant ('center', 'flip', 'aug0', …). */
export interface EmbeddedImage {
  id: string;
  label: string;
  group?: string;
  domain?: string;
  sha256: string;
  views: Map<string, Float32Array>;
}

export interface EmbedOptions {
  cache?: EmbeddingCache;
  onProgress?: (p: TrainingProgress) => void;
}

/** Embeds every image under every variant, reusing cached embeddings (key: content hash + backbone + variant). */
export async function embedImages(
  images: TrainingImage[],
  backbone: Backbone,
  variants: string[],
  options: EmbedOptions = {},
): Promise<EmbeddedImage[]> {
  const out: EmbeddedImage[] = [];
  let done = 0;
  for (const image of images) {
    let bytes = image.sha256 ? undefined : await image.read();
    const sha256 = image.sha256 ?? sha256Hex(bytes as Buffer);
    const views = new Map<string, Float32Array>();
    const missing: string[] = [];
    for (const variant of variants) {
      const cached = await options.cache?.get(embeddingCacheKey(sha256, backbone.spec.id, variant));
      if (cached && cached.length === backbone.spec.featureDim) views.set(variant, cached);
      else missing.push(variant);
    }
    if (missing.length) {
      bytes ??= await image.read();
      const rgb = await decodeToRgb(bytes, WORKING_SIZE);
      const rendered = await Promise.all(
        missing.map((v) => renderVariant(rgb, backbone.spec.inputSize, v, sha256)),
      );
      const embeddings = await embedRendered(backbone, rendered);
      for (const [i, variant] of missing.entries()) {
        const e = embeddings[i] as Float32Array;
        views.set(variant, e);
        await options.cache?.set(embeddingCacheKey(sha256, backbone.spec.id, variant), e);
      }
    }
    out.push({
      id: image.id,
      label: image.label,
      group: image.group,
      domain: image.domain,
      sha256,
      views,
    });
    options.onProgress?.({ phase: 'embedding', done: ++done, total: images.length });
  }
  return out;
}

export interface HeadRecipe {
  /** Views used as training rows. */
  trainVariants: string[];
  tta: TtaMode;
  head: Partial<HeadTrainingOptions>;
}

function rowsOf(
  embedded: EmbeddedImage[],
  indices: number[],
  variants: string[],
  labelIndex: Map<string, number>,
) {
  const first = embedded[indices[0] as number]?.views.get(variants[0] as string);
  if (!first) throw new Error('rowsOf: missing embeddings');
  const d = first.length;
  const features = new Float32Array(indices.length * variants.length * d);
  const labels = new Int32Array(indices.length * variants.length);
  let row = 0;
  for (const i of indices) {
    const image = embedded[i] as EmbeddedImage;
    for (const v of variants) {
      const e = image.views.get(v);
      if (!e) throw new Error(`missing view ${v} of ${image.id}`);
      features.set(e, row * d);
      labels[row++] = labelIndex.get(image.label) as number;
    }
  }
  return { features, labels };
}

export function testEmbedding(image: EmbeddedImage, tta: TtaMode): Float32Array {
  return meanOf(ttaVariantNames(tta).map((v) => image.views.get(v) as Float32Array));
}

export interface CrossValidationResult {
  labels: string[];
  truth: number[];
  /** Out-of-fold logits (uncalibrated) per image. */
  logits: Float32Array[];
  /** Out-of-fold OOD scores (centroids of the training folds). */
  oodScores: number[];
  folds: number[];
}

/** Grouped stratified K-fold on precomputed embeddings. */
export function crossValidateEmbeddings(
  embedded: EmbeddedImage[],
  labels: string[],
  recipe: HeadRecipe,
  folds = 5,
  seed = 1,
  onFold?: (fold: number) => void,
): CrossValidationResult {
  const labelIndex = new Map(labels.map((l, i) => [l, i]));
  const assignment = groupedStratifiedKFold(embedded, folds, seed);
  const logits: Float32Array[] = new Array(embedded.length);
  const oodScores: number[] = new Array(embedded.length);
  for (let f = 0; f < folds; f++) {
    const train = assignment.flatMap((a, i) => (a === f ? [] : [i]));
    const test = assignment.flatMap((a, i) => (a === f ? [i] : []));
    if (!test.length) continue;
    const { features, labels: y } = rowsOf(embedded, train, recipe.trainVariants, labelIndex);
    const head = trainLinearHead(features, y, labels.length, { seed, ...recipe.head });
    const centre = rowsOf(embedded, train, ['center'], labelIndex);
    const centroids = classCentroids(centre.features, centre.labels, labels.length);
    for (const i of test) {
      const e = testEmbedding(embedded[i] as EmbeddedImage, recipe.tta);
      logits[i] = headLogits(head, e);
      oodScores[i] = maxCentroidSimilarity(centroids, e);
    }
    onFold?.(f);
  }
  return {
    labels,
    truth: embedded.map((e) => labelIndex.get(e.label) as number),
    logits,
    oodScores,
    folds: assignment,
  };
}

export function reportOf(cv: CrossValidationResult, temperature = 1): EvaluationReport {
  return evaluatePredictions(
    cv.logits.map((l) => softmax(l, temperature)),
    cv.truth,
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
  /** Number of random augmented views per image (false = 0). Default DEFAULT_AUGMENT_COUNT. */
  augment?: boolean | number;
  tta?: TtaMode;
  head?: Partial<HeadTrainingOptions>;
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
  crossValidation?: EvaluationReport & { eceBeforeCalibration: number; folds: number };
  temperature: number;
  identified: { threshold: number; precision: number; coverage: number };
  notFootprint: {
    threshold: number;
    falseRejectRate: number;
    syntheticFalseAcceptRate: number;
    syntheticCount: number;
  };
  timingsMs: { embedding: number; crossValidation: number; training: number; total: number };
  images: number;
  /** The backbone used, and why (`auto` resolution). */
  backbone: BackboneChoice;
}

/** Random augmented views per training image: measured to buy nothing beyond flips on footprints-dev (see README). */
export const DEFAULT_AUGMENT_COUNT = 0;
/** One centred view at inference: flip TTA doubles the backbone cost for no measurable gain. */
export const DEFAULT_TTA: TtaMode = 'center';

/** Training rows per image: the centred view and its mirror, the test-time views, and N random augmentations. */
export function trainingVariants(augmentCount: number, tta: TtaMode): string[] {
  return [
    ...new Set(['center', 'flip', ...ttaVariantNames(tta), ...augmentVariantNames(augmentCount)]),
  ];
}

export async function trainFootprintModel(
  options: TrainFootprintModelOptions,
): Promise<{ model: FootprintModel; metrics: TrainingMetrics }> {
  const t0 = performance.now();
  const seed = options.seed ?? 1;
  const tta = options.tta ?? DEFAULT_TTA;
  const augmentCount =
    options.augment === false
      ? 0
      : options.augment === true || options.augment === undefined
        ? DEFAULT_AUGMENT_COUNT
        : options.augment;
  const labels = options.labels ?? [...new Set(options.images.map((i) => i.label))].sort();
  if (labels.length < 2) throw new Error('training needs at least 2 species');
  const progress = options.onProgress ?? (() => {});
  progress({ phase: 'loading-backbone' });
  const backboneChoice =
    options.backboneChoice ??
    (await resolveBackboneId(options.backboneId, options.backboneOptions));
  const backboneId = backboneChoice.id;
  const backbone = await loadBackbone(backboneId, options.backboneOptions);
  try {
    const trainVariants = trainingVariants(augmentCount, tta);
    const embedded = await embedImages(options.images, backbone, trainVariants, {
      cache: options.embeddingCache,
      onProgress: progress,
    });
    const t1 = performance.now();
    const recipe: HeadRecipe = { trainVariants, tta, head: { seed, ...options.head } };

    let temperature = 1;
    let identified = { threshold: 0.5, precision: 0, coverage: 0 };
    let notFootprintThreshold = -1;
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
      const before = reportOf(cv);
      temperature = fitTemperature(cv.logits, cv.truth);
      const after = reportOf(cv, temperature);
      identified = chooseIdentifiedThreshold(
        cv.logits.map((l) => softmax(l, temperature)),
        cv.truth,
      );
      notFootprintThreshold = chooseNotFootprintThreshold(cv.oodScores, 0.05);
      crossValidation = { ...after, eceBeforeCalibration: before.ece, folds };
    }
    const t2 = performance.now();

    progress({ phase: 'training' });
    const labelIndex = new Map(labels.map((l, i) => [l, i]));
    const all = embedded.map((_, i) => i);
    const { features, labels: y } = rowsOf(embedded, all, trainVariants, labelIndex);
    const epochs = recipe.head.epochs;
    const head = trainLinearHead(features, y, labels.length, {
      ...recipe.head,
      onEpoch: (epoch, loss) => progress({ phase: 'training', epoch, epochs, loss }),
    });
    const centre = rowsOf(embedded, all, ['center'], labelIndex);
    const centroids = classCentroids(centre.features, centre.labels, labels.length);
    const t3 = performance.now();

    const manifest: FootprintModelManifest = {
      format: MODEL_FORMAT,
      formatVersion: MODEL_FORMAT_VERSION,
      version: options.version ?? new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, ''),
      createdAt: new Date().toISOString(),
      labels,
      backbone: {
        id: backboneId,
        featureDim: backbone.spec.featureDim,
        sources: backboneId.split('+').map((part) => {
          const spec = getBackboneSpec(part);
          return { id: spec.id, sources: spec.sources, license: spec.license, origin: spec.origin };
        }),
      },
      preprocessing: {
        decoder: 'sharp',
        workingShortSide: WORKING_SIZE,
        inputSize: backbone.spec.inputSize,
        normalisation: backbone.spec.preprocessing,
        crop: 'center-square',
      },
      tta: { mode: tta, views: ttaVariantNames(tta).length },
      temperature,
      thresholds: {
        identified: identified.threshold,
        notFootprint: notFootprintThreshold,
        oodScore: 'max-centroid-cosine',
      },
      metrics: {},
      training: {
        images: embedded.length,
        augmentViews: augmentCount,
        trainVariants,
        head: { ...recipe.head, type: 'softmax-regression' },
        seed,
        backboneChoice: backboneChoice.reason,
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
    const data: FootprintModelData = { manifest, head, centroids };
    const model = await FootprintModel.create(data, options.backboneOptions);

    // False-accept rate of the not_a_footprint gate on synthetic images the model never saw.
    const negativeCount = options.syntheticNegatives ?? 36;
    const negatives =
      negativeCount > 0 ? await generateSyntheticNegatives(negativeCount, seed + 100) : [];
    // Embedded through the cache too, so a retrain does not re-embed them.
    const negativeImages = negatives.map((n, i) => ({
      id: `synthetic-${n.kind}-${i}`,
      label: 'not-a-footprint',
      read: async () => n.image,
    }));
    const negativeEmbedded = await embedImages(negativeImages, backbone, ttaVariantNames(tta), {
      cache: options.embeddingCache,
    });
    const negativeScores = negativeEmbedded.map(
      (n) => model.classify(testEmbedding(n, tta)).oodScore,
    );
    const metrics: TrainingMetrics = {
      crossValidation,
      temperature,
      identified,
      notFootprint: {
        threshold: notFootprintThreshold,
        falseRejectRate: 0.05,
        syntheticFalseAcceptRate: rate(negativeScores, (s) => s >= notFootprintThreshold),
        syntheticCount: negatives.length,
      },
      timingsMs: {
        embedding: t1 - t0,
        crossValidation: t2 - t1,
        training: t3 - t2,
        total: performance.now() - t0,
      },
      images: embedded.length,
      backbone: backboneChoice,
    };
    manifest.metrics = summariseMetrics(metrics);
    progress({ phase: 'done' });
    return { model, metrics };
  } finally {
    backbone.dispose();
  }
}

function summariseMetrics(m: TrainingMetrics): Record<string, unknown> {
  const cv = m.crossValidation;
  return {
    crossValidation: cv
      ? {
          folds: cv.folds,
          n: cv.n,
          top1: cv.top1,
          top3: cv.top3,
          macroF1: cv.macroF1,
          ece: cv.ece,
          eceBeforeCalibration: cv.eceBeforeCalibration,
          meanConfidence: cv.meanConfidence,
          perSpeciesRecall: cv.perSpeciesRecall,
        }
      : null,
    identified: m.identified,
    notFootprint: m.notFootprint,
    images: m.images,
  };
}
