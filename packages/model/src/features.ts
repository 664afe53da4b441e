import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import type { Backbone } from './backbones.js';
import {
  basisName,
  disposeMaps,
  featureMaps,
  poolFeatures,
  workingShortSide,
  type FeatureRecipe,
  type ProjectionBases,
  type RenderedViews,
  type StageTimer,
} from './feature-maps.js';

export type { StageTimer } from './feature-maps.js';
import {
  cropResize,
  decodeToRgb,
  toInputTensor,
  type PhotoRegion,
  type RgbImage,
} from './image-pipeline.js';
import {
  CellSampler,
  basisTensors,
  fitProjectionBasis,
  type BasisTensors,
  type ProjectionBasis,
} from './projection.js';
import { createRandom } from './random.js';
import { wholeViewSize } from './tensor-input.js';

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
} from './feature-maps.js';

/**
 * A recipe limited to what `backbone` has: a single backbone has one part, and a backbone
 * without spatial feature maps (a URL model whose output is already a vector) only gives the
 * pooled vector of the centred view.
 */
export function recipeFor(backbone: Backbone, recipe: FeatureRecipe): FeatureRecipe {
  const partCount = backbone.spec.id.split('+').length;
  const allParts = Array.from({ length: partCount }, (_, i) => i);
  if (!backbone.spatialParts)
    return { ...recipe, views: [{ name: 'center', parts: allParts }], pooling: ['gap'] };
  return {
    ...recipe,
    // A view asking for parts this backbone lacks (the recipe's MobileNetV1 on the single
    // offline backbone) runs through its last part rather than disappearing.
    views: recipe.views.map((v) => {
      const parts = v.parts.filter((p) => p < partCount);
      return { ...v, parts: parts.length ? parts : [partCount - 1] };
    }),
  };
}

function isVectorOnly(recipe: FeatureRecipe): boolean {
  return (
    recipe.views.length === 1 &&
    recipe.views[0]?.name === 'center' &&
    recipe.pooling.length === 1 &&
    recipe.pooling[0] === 'gap'
  );
}

/** Short id of a recipe, part of embedding cache keys. */
export function recipeKey(recipe: FeatureRecipe): string {
  const views = recipe.views
    .map((v) => `${v.name}${v.name === 'whole' ? recipe.wholeLongSide : ''}[${v.parts.join('')}]`)
    .join('+');
  const pooling = recipe.pooling
    .map((p) => (p === 'bilinear' ? `bil${recipe.bilinearDim}` : p))
    .join('+');
  return `${views}:${pooling}`;
}

/** Renders the recipe's views from a decoded working image. */
export async function renderViews(
  image: RgbImage,
  inputSize: number,
  recipe: FeatureRecipe,
  mirror = false,
): Promise<RenderedViews> {
  const { width, height } = wholeViewSize(image, recipe.wholeLongSide);
  let pipeline = sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: 3 },
  }).resize({ width, height, fit: 'fill', kernel: 'lanczos3' });
  if (mirror) pipeline = pipeline.flop();
  // Both resizes at once: sharp runs them on two threads of its pool.
  const [center, { data, info }] = await Promise.all([
    cropResize(image, inputSize, { flip: mirror }),
    pipeline.raw().toBuffer({ resolveWithObject: true }),
  ]);
  return {
    center,
    whole: {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width,
      height: info.height,
    },
  };
}

/**
 * Fits one PCA basis per view and part on cells of the given photos' feature maps (a sample:
 * `perMap` random cells of each map, at most `maxCells` per basis).
 */
export async function fitBases(
  photos: AsyncIterable<RenderedViews>,
  backbone: Backbone,
  recipe: FeatureRecipe,
  options: { perMap?: number; maxCells?: number; seed?: number } = {},
): Promise<ProjectionBases> {
  const perMap = options.perMap ?? 48;
  const maxCells = options.maxCells ?? 10_000;
  const random = createRandom(options.seed ?? 1);
  const samplers = new Map<string, CellSampler>();
  for await (const views of photos) {
    const maps = featureMaps(backbone, views, recipe);
    try {
      for (const [view, byPart] of maps)
        for (const [part, map] of byPart) {
          const name = basisName(view, part);
          let sampler = samplers.get(name);
          if (!sampler) {
            sampler = new CellSampler(maxCells, perMap, random, map.shape[3]);
            samplers.set(name, sampler);
          }
          sampler.add(map);
        }
    } finally {
      disposeMaps(maps);
    }
  }
  const bases: ProjectionBases = {};
  for (const [name, sampler] of samplers) {
    const channels = sampler.collected().length / Math.max(1, sampler.count);
    bases[name] = fitProjectionBasis(sampler.collected(), channels, recipe.bilinearDim, 1);
  }
  return bases;
}

/** Fingerprint of a set of bases (part of embedding cache keys: features depend on them). */
export function basesFingerprint(bases: ProjectionBases): string {
  const hash = createHash('sha256');
  for (const name of Object.keys(bases).sort()) {
    const b = bases[name] as ProjectionBasis;
    hash.update(`${name}:${b.channels}x${b.dim}`);
    hash.update(new Uint8Array(b.mean.buffer, b.mean.byteOffset, b.mean.byteLength));
    hash.update(
      new Uint8Array(b.components.buffer, b.components.byteOffset, b.components.byteLength),
    );
  }
  return hash.digest('hex').slice(0, 12);
}

/**
 * Turns photos into the recipe's feature vectors with a loaded backbone and fitted bases: the
 * one implementation behind training rows, cross-validation and inference.
 */
export class PhotoFeaturizer {
  /** Identifies the features this featurizer computes (recipe + bases), for cache keys. */
  readonly key: string;
  /** Bases as tensors, uploaded on first use instead of once per photo; freed by dispose(). */
  private readonly uploaded = new Map<string, BasisTensors>();

  constructor(
    readonly backbone: Backbone,
    readonly recipe: FeatureRecipe,
    readonly bases: ProjectionBases,
  ) {
    if (recipe.pooling.includes('bilinear'))
      for (const view of recipe.views)
        for (const part of view.parts)
          if (!bases[basisName(view.name, part)])
            throw new Error(`missing projection basis ${basisName(view.name, part)}`);
    this.key = `${recipeKey(recipe)}@${recipe.pooling.includes('bilinear') ? basesFingerprint(bases) : 'none'}`;
  }

  /**
   * Decodes a photo (or the region of it a hiker framed: then that part is the photo) into the
   * working image every view is rendered from.
   */
  decode(bytes: Buffer | Uint8Array, region?: PhotoRegion, maxPixels?: number): Promise<RgbImage> {
    return decodeToRgb(bytes, workingShortSide(this.recipe), region, maxPixels);
  }

  /** The feature vector of a decoded photo (or of its mirror image: training rows). */
  async features(image: RgbImage, mirror = false, onStage?: StageTimer): Promise<Float32Array> {
    const start = performance.now();
    const views = await renderViews(image, this.backbone.spec.inputSize, this.recipe, mirror);
    onStage?.('views', performance.now() - start);
    if (!this.backbone.spatialParts) {
      // The backbone pools itself (GAP of each part, L2-normalised): the same blocks.
      if (!isVectorOnly(this.recipe))
        throw new Error(`backbone ${this.backbone.spec.id} has no spatial feature map`);
      const output = tf.tidy(() =>
        this.backbone.embed(toInputTensor([views.center], this.backbone.spec.preprocessing)),
      );
      const values = Float32Array.from(output.dataSync());
      output.dispose();
      return values;
    }
    const maps = featureMaps(this.backbone, views, this.recipe, onStage);
    try {
      const poolingStart = performance.now();
      const pooled = poolFeatures(maps, this.recipe, this.bases, (name) =>
        this.basisTensorsOf(name),
      );
      onStage?.('pooling', performance.now() - poolingStart);
      return pooled;
    } finally {
      disposeMaps(maps);
    }
  }

  /**
   * Computes the features of a blank photo of the largest size the recipe renders (square: the
   * whole view at its long side on both sides), so that the backend grows its memory and the
   * bases are uploaded at load rather than on the first photo (wasm: ~0.4 s once).
   */
  async warmUp(): Promise<void> {
    const side = workingShortSide(this.recipe);
    await this.features({
      data: new Uint8Array(side * side * 3).fill(128),
      width: side,
      height: side,
    });
  }

  private basisTensorsOf(name: string): BasisTensors {
    let tensors = this.uploaded.get(name);
    if (!tensors) {
      tensors = basisTensors(this.bases[name] as ProjectionBasis);
      this.uploaded.set(name, tensors);
    }
    return tensors;
  }

  /** Frees the uploaded bases (not the backbone, which its owner disposes). */
  dispose(): void {
    for (const { mean, components } of this.uploaded.values()) tf.dispose([mean, components]);
    this.uploaded.clear();
  }
}

/**
 * Fits the recipe's bases on up to `sampleSize` photos (the first ones in `photos`' order:
 * callers pass a deterministic order, e.g. by content hash, so every shard fits the same bases).
 */
export async function fitFeaturizer(
  photos: { read(): Promise<Buffer> }[],
  backbone: Backbone,
  recipe: FeatureRecipe,
  options: { sampleSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<PhotoFeaturizer> {
  if (!recipe.pooling.includes('bilinear')) return new PhotoFeaturizer(backbone, recipe, {});
  const sample = photos.slice(0, options.sampleSize ?? 128);
  let done = 0;
  const rendered = (async function* () {
    for (const photo of sample) {
      const image = await decodeToRgb(await photo.read(), workingShortSide(recipe));
      yield renderViews(image, backbone.spec.inputSize, recipe);
      options.onProgress?.(++done, sample.length);
    }
  })();
  const bases = await fitBases(rendered, backbone, recipe);
  return new PhotoFeaturizer(backbone, recipe, bases);
}

/** Bases as bytes: uint32 LE header length, JSON header [{ name, channels, dim }], float32 LE data. */
export function encodeBases(bases: ProjectionBases): Uint8Array {
  const names = Object.keys(bases).sort();
  const header = new TextEncoder().encode(
    JSON.stringify(
      names.map((name) => ({ name, channels: bases[name]!.channels, dim: bases[name]!.dim })),
    ),
  );
  const floats = names.reduce((sum, n) => sum + bases[n]!.channels * (bases[n]!.dim + 1), 0);
  const pad = (4 - ((4 + header.length) % 4)) % 4;
  const out = new Uint8Array(4 + header.length + pad + floats * 4);
  new DataView(out.buffer).setUint32(0, header.length + pad, true);
  out.set(header, 4);
  out.fill(0x20, 4 + header.length, 4 + header.length + pad);
  const data = new Float32Array(out.buffer, 4 + header.length + pad, floats);
  let offset = 0;
  for (const n of names) {
    data.set(bases[n]!.mean, offset);
    offset += bases[n]!.channels;
    data.set(bases[n]!.components, offset);
    offset += bases[n]!.components.length;
  }
  return out;
}

export function decodeBases(bytes: Uint8Array): ProjectionBases {
  const aligned = bytes.slice();
  const headerLength = new DataView(aligned.buffer).getUint32(0, true);
  const entries = JSON.parse(new TextDecoder().decode(aligned.subarray(4, 4 + headerLength))) as {
    name: string;
    channels: number;
    dim: number;
  }[];
  const data = new Float32Array(aligned.buffer, 4 + headerLength);
  const bases: ProjectionBases = {};
  let offset = 0;
  for (const { name, channels, dim } of entries) {
    const mean = data.slice(offset, offset + channels);
    offset += channels;
    const components = data.slice(offset, offset + channels * dim);
    offset += channels * dim;
    bases[name] = { channels, dim, mean, components };
  }
  return bases;
}

/** Where fitted bases are kept between runs (the CLIs: a file per sample; tests: memory). */
export interface BasesCache {
  get(key: string): Promise<ProjectionBases | undefined>;
  set(key: string, bases: ProjectionBases): Promise<void>;
}
