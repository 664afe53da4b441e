/**
 * Feature maps → the model's feature vector (browser-safe: tfjs-core only). The server
 * (PhotoFeaturizer, features.ts) and the on-device runtime (packages/offline-runtime) both pool
 * through these functions, so a photo rendered the same way gets the same features.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Backbone, BackboneSpec } from './backbones.js';
import {
  bilinearLength,
  bilinearPool,
  type BasisTensors,
  type ProjectionBasis,
} from './bilinear.js';
import { WORKING_SIZE, toInputTensor, type RgbImage } from './tensor-input.js';

/**
 * How a photo becomes the model's feature vector (recorded in the manifest as `features`).
 *
 * Views: `center` is the centred square at each backbone part's input size (what a tight crop of
 * a track needs); `whole` is the whole photo, aspect kept, long side `wholeLongSide`, run through
 * the (fully convolutional) parts at that size, so a track anywhere in a field photo is seen.
 * Each view's last feature map of each part is pooled by every `pooling`: `gap` (global
 * average) and `bilinear` (second moment through a PCA basis, see projection.ts). Every pooled
 * block is L2-normalised; blocks are concatenated view by view, part by part, pooling by pooling.
 */
export interface FeatureRecipe {
  views: FeatureView[];
  wholeLongSide: number;
  pooling: Pooling[];
  bilinearDim: number;
}

export type Pooling = 'gap' | 'bilinear';

export interface FeatureView {
  name: 'center' | 'whole';
  /** Indices of the backbone parts this view runs through (all parts of an ensemble by default). */
  parts: number[];
}

/** Measured best within the latency budget (packages/model/README.md, bake-off). */
export const DEFAULT_FEATURE_RECIPE: FeatureRecipe = {
  views: [
    { name: 'center', parts: [0, 1] },
    // The whole photo through MobileNetV1 only: running MobileNetV2-1.4 on it as well bought
    // ~1 point of top-1 for ~70 ms more per photo, over the latency budget (README bake-off).
    { name: 'whole', parts: [1] },
  ],
  wholeLongSide: 448,
  pooling: ['gap', 'bilinear'],
  bilinearDim: 64,
};

/** Name of the basis of one view of one part: bases are fitted per view and part. */
export function basisName(view: FeatureView['name'], part: number): string {
  return `${view}/${part}`;
}

export type ProjectionBases = Record<string, ProjectionBasis>;

/** The rendered views of a photo, ready for the backbone (mirrored for the mirror training rows). */
export interface RenderedViews {
  center: RgbImage;
  whole: RgbImage;
}

/** What featureMaps needs of a backbone: its input normalisation and its parts' feature maps. */
export interface SpatialBackbone {
  spec: Pick<BackboneSpec, 'id' | 'preprocessing'>;
  spatialParts?: Backbone['spatialParts'];
}

/**
 * Receives the wall time of each stage of one photo's features (benchmarks, `bench --profile`):
 * `views`, `backbone <view>/<part id>`, `pooling`; FootprintModel adds `decode` and `head`.
 * Kernels run synchronously on the CPU backends (wasm, tensorflow), so a stage's time is its own.
 */
export type StageTimer = (stage: string, ms: number) => void;

/** Each view's feature map for each of its parts: `maps[view][part]` (caller disposes). */
export function featureMaps(
  backbone: SpatialBackbone,
  views: RenderedViews,
  recipe: FeatureRecipe,
  onStage?: StageTimer,
): Map<FeatureView['name'], Map<number, tf.Tensor4D>> {
  const spatialParts = backbone.spatialParts?.bind(backbone);
  if (!spatialParts) throw new Error(`backbone ${backbone.spec.id} has no spatial feature map`);
  const partIds = backbone.spec.id.split('+');
  const out = new Map<FeatureView['name'], Map<number, tf.Tensor4D>>();
  for (const view of recipe.views) {
    if (!view.parts.length) continue;
    const input = toInputTensor([views[view.name]], backbone.spec.preprocessing);
    // Only the parts this view uses run: the whole photo through MobileNetV2 as well would
    // cost ~90 ms for nothing. Timed, each part runs on its own (the parts are separate
    // networks: same maps).
    if (!onStage) out.set(view.name, spatialParts(input, view.name === 'whole', view.parts));
    else {
      const byPart = new Map<number, tf.Tensor4D>();
      for (const part of view.parts) {
        const start = performance.now();
        for (const [index, map] of spatialParts(input, view.name === 'whole', [part]))
          byPart.set(index, map);
        onStage(`backbone ${view.name}/${partIds[part] ?? part}`, performance.now() - start);
      }
      out.set(view.name, byPart);
    }
    input.dispose();
  }
  return out;
}

function gapNormalised(map: tf.Tensor4D): Float32Array {
  const pooled = tf.tidy(() => {
    const mean = tf.mean(map, [0, 1, 2]);
    return tf.div(mean, tf.add(tf.norm(mean), 1e-8));
  });
  const values = pooled.dataSync() as Float32Array;
  pooled.dispose();
  return Float32Array.from(values);
}

/** Pools feature maps into the recipe's feature vector (bases needed when pooling is bilinear). */
export function poolFeatures(
  maps: Map<FeatureView['name'], Map<number, tf.Tensor4D>>,
  recipe: FeatureRecipe,
  bases?: ProjectionBases,
  uploaded?: (name: string) => BasisTensors,
): Float32Array {
  const blocks: Float32Array[] = [];
  for (const view of recipe.views)
    for (const part of view.parts) {
      const map = maps.get(view.name)?.get(part);
      if (!map) throw new Error(`missing feature map ${view.name}/${part}`);
      for (const pooling of recipe.pooling) {
        if (pooling === 'gap') blocks.push(gapNormalised(map));
        else {
          const name = basisName(view.name, part);
          const basis = bases?.[name];
          if (!basis) throw new Error(`missing projection basis ${name}`);
          blocks.push(bilinearPool(map, basis, uploaded?.(name)));
        }
      }
    }
  const out = new Float32Array(blocks.reduce((sum, b) => sum + b.length, 0));
  let offset = 0;
  for (const b of blocks) {
    out.set(b, offset);
    offset += b.length;
  }
  return out;
}

export function disposeMaps(maps: Map<FeatureView['name'], Map<number, tf.Tensor4D>>): void {
  for (const byPart of maps.values()) for (const m of byPart.values()) m.dispose();
}

/** Feature length of a recipe given each part's channel count. */
export function featureLength(recipe: FeatureRecipe, partChannels: number[]): number {
  let total = 0;
  for (const view of recipe.views)
    for (const part of view.parts)
      for (const pooling of recipe.pooling)
        total +=
          pooling === 'gap' ? (partChannels[part] as number) : bilinearLength(recipe.bilinearDim);
  return total;
}

/** Short side the photo is decoded to: enough for the whole view's long side and the centre crop. */
export function workingShortSide(recipe: FeatureRecipe): number {
  return Math.max(WORKING_SIZE, recipe.wholeLongSide);
}
