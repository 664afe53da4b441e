import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from './backbones.js';
import {
  augmentedView,
  cropResize,
  decodeToRgb,
  toInputTensor,
  ttaViews,
  viewOfImage,
  type TtaMode,
  type RgbImage,
  type ViewOptions,
} from './image-pipeline.js';
import { hashSeed } from './random.js';

/** Cache variant names of the test-time views, in ttaViews() order. */
const TTA_VARIANTS = ['center', 'flip', 'crop-tl', 'crop-br'];

export function ttaVariantNames(mode: TtaMode): string[] {
  return TTA_VARIANTS.slice(0, ttaViews(mode).length);
}

export function augmentVariantNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `aug${i}`);
}

/**
 * Renders a named view: test-time views ('center', 'flip', 'crop-tl', 'crop-br') exactly as
 * inference does, or a seeded random augmentation 'aug<i>' (seed = variant + image hash).
 */
export async function renderVariant(
  image: RgbImage,
  size: number,
  variant: string,
  imageKey = '',
): Promise<RgbImage> {
  const ttaIndex = TTA_VARIANTS.indexOf(variant);
  if (ttaIndex >= 0)
    return cropResize(image, size, viewOfImage(image, ttaViews('multi')[ttaIndex] as ViewOptions));
  if (variant.startsWith('aug')) return augmentedView(image, size, hashSeed(variant + imageKey));
  throw new Error(`unknown view variant ${variant}`);
}

export async function renderViews(
  image: RgbImage,
  size: number,
  views: ViewOptions[],
): Promise<RgbImage[]> {
  return Promise.all(views.map((v) => cropResize(image, size, viewOfImage(image, v))));
}

/** Embeds already-rendered views in one batch; returns one Float32Array per view. */
export async function embedRendered(
  backbone: Backbone,
  views: RgbImage[],
): Promise<Float32Array[]> {
  const output = tf.tidy(() => backbone.embed(toInputTensor(views, backbone.spec.preprocessing)));
  const data = await output.data();
  output.dispose();
  const d = output.shape[1];
  return views.map((_, i) => new Float32Array(data.buffer, data.byteOffset + i * d * 4, d).slice());
}

export function meanOf(vectors: Float32Array[]): Float32Array {
  const first = vectors[0];
  if (!first) throw new Error('meanOf: empty');
  const out = new Float32Array(first.length);
  for (const v of vectors)
    for (let j = 0; j < out.length; j++)
      out[j] = (out[j] as number) + (v[j] as number) / vectors.length;
  return out;
}

export { decodeToRgb };
