import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from './backbones.js';
import {
  cropResize,
  decodeToRgb,
  toInputTensor,
  viewOfImage,
  type RgbImage,
  type ViewOptions,
} from './image-pipeline.js';

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
