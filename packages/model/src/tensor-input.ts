/**
 * The browser-safe half of the image pipeline (no sharp): pixel layouts, view geometry and
 * tensor normalisation, shared by the server's sharp pipeline (image-pipeline.ts, features.ts)
 * and the on-device runtime (packages/offline-runtime), so both cut and scale the same views.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Refuses decompression bombs: 40 MP covers every phone camera. */
export const MAX_INPUT_PIXELS = 40_000_000;

/** Images are first normalised to this short side, then cropped/augmented from it. */
export const WORKING_SIZE = 320;

export type Preprocessing = 'mobilenet' | 'unit';

/** An sRGB, 3-channel, 8-bit image in row-major interleaved order. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface CropBox {
  /** Fractions of the image (0..1). */
  left: number;
  top: number;
  width: number;
  height: number;
}

/** A crop of `image` in whole pixels (default: the centred square), clamped inside the image. */
export function cropBoxPixels(
  image: { width: number; height: number },
  crop?: CropBox,
): { left: number; top: number; width: number; height: number } {
  const side = Math.min(image.width, image.height);
  const box = crop ?? {
    left: (1 - side / image.width) / 2,
    top: (1 - side / image.height) / 2,
    width: side / image.width,
    height: side / image.height,
  };
  const left = Math.max(0, Math.min(image.width - 1, Math.round(box.left * image.width)));
  const top = Math.max(0, Math.min(image.height - 1, Math.round(box.top * image.height)));
  const width = Math.max(1, Math.min(image.width - left, Math.round(box.width * image.width)));
  const height = Math.max(1, Math.min(image.height - top, Math.round(box.height * image.height)));
  return { left, top, width, height };
}

/** Size of the whole-photo view: aspect kept, long side `longSide`, at least 32 px a side. */
export function wholeViewSize(
  image: { width: number; height: number },
  longSide: number,
): { width: number; height: number } {
  const scale = longSide / Math.max(image.width, image.height);
  return {
    width: Math.max(32, Math.round(image.width * scale)),
    height: Math.max(32, Math.round(image.height * scale)),
  };
}

/** Stacks same-size RGB images into a normalised NHWC float tensor. */
export function toInputTensor(images: RgbImage[], preprocessing: Preprocessing): tf.Tensor4D {
  const first = images[0];
  if (!first) throw new Error('toInputTensor: no image');
  const { width, height } = first;
  const pixels = width * height * 3;
  const values = new Float32Array(pixels * images.length);
  const [scale, offset] = preprocessing === 'mobilenet' ? [1 / 127.5, -1] : [1 / 255, 0];
  images.forEach((image, n) => {
    if (image.width !== width || image.height !== height)
      throw new Error('toInputTensor: mixed sizes');
    const base = n * pixels;
    for (let i = 0; i < pixels; i++) values[base + i] = (image.data[i] as number) * scale + offset;
  });
  return tf.tensor4d(values, [images.length, height, width, 3]);
}
