import { loadBackbone, type Backbone, type LoadBackboneOptions } from './backbones.js';
import { headLogits, maxCentroidSimilarity, softmax } from './classifier.js';
import { embedRendered, meanOf, renderViews } from './embedding.js';
import { PhotoFeaturizer } from './features.js';
import { MAX_INPUT_PIXELS, decodeToRgb, ttaViews } from './image-pipeline.js';
import type { FootprintModelData, FootprintModelManifest } from './model-format.js';

export type Verdict = 'identified' | 'uncertain' | 'not_a_footprint';

export interface Prediction {
  verdict: Verdict;
  /** All labels, most probable first (callers show the first 3). */
  top: { speciesId: string; probability: number }[];
  probabilities: Record<string, number>;
  /** Max cosine similarity of the embedding to the class centroids (higher = more footprint-like). */
  oodScore: number;
  /** The kind of photo the model recognised ('crop', 'field'…), when it tells domains apart. */
  domain?: string;
  timingsMs: { preprocess: number; inference: number };
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
    try {
      return new FootprintModel(data, backbone, maxInputPixels);
    } catch (error) {
      backbone.dispose();
      throw error;
    }
  }

  toData(): FootprintModelData {
    return this.data;
  }

  /** Decodes and embeds one image with the model's test-time views (averaged). */
  async embed(
    image: Buffer | Uint8Array,
  ): Promise<{ embedding: Float32Array; preprocessMs: number; inferenceMs: number }> {
    if (this.disposed) throw new Error('FootprintModel is disposed');
    const t0 = performance.now();
    if (this.featurizer) {
      const decoded = await this.featurizer.decode(image, this.maxInputPixels);
      const t1 = performance.now();
      const embedding = await this.featurizer.features(decoded);
      if (embedding.length !== this.data.head.featureDim)
        throw new Error(
          `features have ${embedding.length} values, the head expects ${this.data.head.featureDim}`,
        );
      return { embedding, preprocessMs: t1 - t0, inferenceMs: performance.now() - t1 };
    }
    const rgb = await this.decode(image);
    const views = await renderViews(
      rgb,
      this.backbone.spec.inputSize,
      ttaViews(this.manifest.tta.mode),
    );
    const t1 = performance.now();
    const embedding = meanOf(await embedRendered(this.backbone, views));
    return { embedding, preprocessMs: t1 - t0, inferenceMs: performance.now() - t1 };
  }

  private decode(image: Buffer | Uint8Array) {
    return decodeToRgb(image, this.manifest.preprocessing.workingShortSide, this.maxInputPixels);
  }

  /** Turns an embedding into calibrated probabilities and a verdict. */
  classify(embedding: Float32Array): Omit<Prediction, 'timingsMs'> {
    const { labels } = this.manifest;
    const { domain, temperature, thresholds } = this.calibrationOf(embedding);
    const probabilities = softmax(headLogits(this.data.head, embedding), temperature);
    const top = labels
      .map((speciesId, i) => ({ speciesId, probability: probabilities[i] as number }))
      .sort((a, b) => b.probability - a.probability);
    const oodScore = maxCentroidSimilarity(this.data.centroids, embedding);
    const best = top[0]?.probability ?? 0;
    const verdict: Verdict =
      oodScore < thresholds.notFootprint
        ? 'not_a_footprint'
        : best >= thresholds.identified
          ? 'identified'
          : 'uncertain';
    return {
      verdict,
      top,
      probabilities: Object.fromEntries(top.map((t) => [t.speciesId, t.probability])),
      oodScore,
      ...(domain ? { domain } : {}),
    };
  }

  /** The temperature and thresholds for this photo: its predicted domain's, when the model has them. */
  private calibrationOf(embedding: Float32Array): {
    domain?: string;
    temperature: number;
    thresholds: { identified: number; notFootprint: number };
  } {
    const { temperature, thresholds, domainCalibration } = this.manifest;
    const domainHead = this.data.domainHead;
    if (!domainCalibration || !domainHead) return { temperature, thresholds };
    const scores = headLogits(domainHead, embedding);
    let best = 0;
    for (let i = 1; i < scores.length; i++)
      if ((scores[i] as number) > (scores[best] as number)) best = i;
    const domain = domainCalibration.domains[best] as string;
    const own = domainCalibration.byDomain[domain];
    return own
      ? {
          domain,
          temperature: own.temperature,
          thresholds: { identified: own.identified, notFootprint: own.notFootprint },
        }
      : { domain, temperature, thresholds };
  }

  /** Safe to call concurrently: decoding runs in sharp's thread pool, inference is synchronous and tidied. */
  async predict(image: Buffer | Uint8Array): Promise<Prediction> {
    const { embedding, preprocessMs, inferenceMs } = await this.embed(image);
    const t = performance.now();
    const result = this.classify(embedding);
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
