import { loadBackbone, type Backbone, type LoadBackboneOptions } from './backbones.js';
import { classifyEmbedding, type Prediction } from './classify.js';
import { embedRendered, meanOf, renderViews } from './embedding.js';
import { PhotoFeaturizer, type StageTimer } from './features.js';
import { MAX_INPUT_PIXELS, decodeToRgb, ttaViews, type PhotoRegion } from './image-pipeline.js';
import type { FootprintModelData, FootprintModelManifest } from './model-format.js';

export type { Prediction, Verdict } from './classify.js';

/** The domain a framed print is classified in: it is then a tight crop of one print. */
export const REGION_DOMAIN = 'crop';

export interface PredictOptions {
  /**
   * The print the hiker framed, as fractions of the photo as seen (EXIF orientation applied):
   * only that part (with a margin) is classified, through the crop domain's calibration.
   */
  region?: PhotoRegion;
  /** Receives each stage's wall time (benchmarks): decode, views, backbone passes, pooling, head. */
  onStage?: StageTimer;
}

export class FootprintModel {
  private disposed = false;

  /** Format 2: whole-photo views and bilinear pooling; absent for format-1 models. */
  private readonly featurizer?: PhotoFeaturizer;

  private constructor(
    private readonly data: FootprintModelData,
    private readonly backbone: Backbone,
    /** Largest photo decoded (pixels): the caller's bound, the same as its inspector's. */
    private readonly maxInputPixels: number,
  ) {
    if (data.manifest.features)
      this.featurizer = new PhotoFeaturizer(backbone, data.manifest.features, data.bases ?? {});
  }

  get manifest(): FootprintModelManifest {
    return this.data.manifest;
  }

  static async create(
    data: FootprintModelData,
    backboneOptions?: LoadBackboneOptions,
    maxInputPixels = MAX_INPUT_PIXELS,
  ): Promise<FootprintModel> {
    const backbone = await loadBackbone(data.manifest.backbone.id, backboneOptions);
    if (!data.manifest.features && backbone.spec.featureDim !== data.head.featureDim) {
      backbone.dispose();
      throw new Error(
        `backbone ${backbone.spec.id} gives ${backbone.spec.featureDim}-d features, head expects ${data.head.featureDim}`,
      );
    }
    let model: FootprintModel;
    try {
      model = new FootprintModel(data, backbone, maxInputPixels);
    } catch (error) {
      backbone.dispose();
      throw error;
    }
    try {
      await model.featurizer?.warmUp();
    } catch (error) {
      model.dispose();
      throw error;
    }
    return model;
  }

  toData(): FootprintModelData {
    return this.data;
  }

  /** Decodes and embeds one image (or its framed region) with the model's test-time views. */
  async embed(
    image: Buffer | Uint8Array,
    region?: PhotoRegion,
    onStage?: StageTimer,
  ): Promise<{ embedding: Float32Array; preprocessMs: number; inferenceMs: number }> {
    if (this.disposed) throw new Error('FootprintModel is disposed');
    const t0 = performance.now();
    if (this.featurizer) {
      const decoded = await this.featurizer.decode(image, region, this.maxInputPixels);
      const t1 = performance.now();
      onStage?.('decode', t1 - t0);
      const embedding = await this.featurizer.features(decoded, false, onStage);
      if (embedding.length !== this.data.head.featureDim)
        throw new Error(
          `features have ${embedding.length} values, the head expects ${this.data.head.featureDim}`,
        );
      return { embedding, preprocessMs: t1 - t0, inferenceMs: performance.now() - t1 };
    }
    const rgb = await this.decode(image, region);
    const views = await renderViews(
      rgb,
      this.backbone.spec.inputSize,
      ttaViews(this.manifest.tta.mode),
    );
    const t1 = performance.now();
    const embedding = meanOf(await embedRendered(this.backbone, views));
    return { embedding, preprocessMs: t1 - t0, inferenceMs: performance.now() - t1 };
  }

  private decode(image: Buffer | Uint8Array, region?: PhotoRegion) {
    return decodeToRgb(
      image,
      this.manifest.preprocessing.workingShortSide,
      region,
      this.maxInputPixels,
    );
  }

  /**
   * Turns an embedding into calibrated probabilities and a verdict, in the photo's predicted
   * domain, or in `domain` when the caller knows it (a framed print is a crop).
   */
  classify(embedding: Float32Array, domain?: string): Omit<Prediction, 'timingsMs'> {
    return classifyEmbedding(this.data, embedding, domain);
  }

  /**
   * Safe to call concurrently: decoding runs in sharp's thread pool, inference is synchronous
   * and tidied. With a `region`, the framed print is classified as a crop (REGION_DOMAIN).
   */
  async predict(image: Buffer | Uint8Array, options: PredictOptions = {}): Promise<Prediction> {
    const { region, onStage } = options;
    const { embedding, preprocessMs, inferenceMs } = await this.embed(image, region, onStage);
    const t = performance.now();
    const result = this.classify(embedding, region ? REGION_DOMAIN : undefined);
    onStage?.('head', performance.now() - t);
    return {
      ...result,
      timingsMs: { preprocess: preprocessMs, inference: inferenceMs + performance.now() - t },
    };
  }

  async predictBatch(images: (Buffer | Uint8Array)[]): Promise<Prediction[]> {
    if (this.disposed) throw new Error('FootprintModel is disposed');
    // Whole-photo views differ in size from photo to photo: no batching (it does not speed up
    // single-threaded wasm anyway, see README).
    if (this.featurizer) return Promise.all(images.map((image) => this.predict(image)));
    const t0 = performance.now();
    const viewSpecs = ttaViews(this.manifest.tta.mode);
    const rendered = await Promise.all(
      images.map(async (image) =>
        renderViews(await this.decode(image), this.backbone.spec.inputSize, viewSpecs),
      ),
    );
    const t1 = performance.now();
    const embeddings = await embedRendered(this.backbone, rendered.flat());
    const perImage = viewSpecs.length;
    const results = images.map((_, i) =>
      this.classify(meanOf(embeddings.slice(i * perImage, (i + 1) * perImage))),
    );
    const inference = (performance.now() - t1) / images.length;
    const preprocess = (t1 - t0) / images.length;
    return results.map((r) => ({ ...r, timingsMs: { preprocess, inference } }));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.featurizer?.dispose();
    this.backbone.dispose();
  }
}
