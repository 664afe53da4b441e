import sharp, { type OutputInfo, type Sharp } from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import {
  DEFAULT_MAX_INPUT_PIXELS,
  MAX_ASPECT_RATIO,
  exceedsAspectRatio,
  photoDecodeOptions,
  regionBox,
  type PhotoRegion,
} from '@wildlens/shared';

// Each request decodes a different photo: sharp's operation cache only costs memory here.
sharp.cache(false);

/** Refuses decompression bombs unless the caller gives its own bound (the functions' param). */
export const MAX_INPUT_PIXELS = DEFAULT_MAX_INPUT_PIXELS;
/** Images are first normalised to this short side, then cropped/augmented from it. */
export const WORKING_SIZE = 320;

export type Preprocessing = 'mobilenet' | 'unit';

/** An sRGB, 3-channel, 8-bit image in row-major interleaved order. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** The photo itself cannot be decoded (corrupt, truncated, too many pixels, too elongated). */
export class ImageDecodeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImageDecodeError';
  }
}

// The framed region's geometry is shared with the API, which validates it before any decoding.
export { MIN_REGION_PIXELS, REGION_MARGIN, regionBox, type PhotoRegion } from '@wildlens/shared';

/**
 * Decodes any supported format (JPEG, PNG, WebP, TIFF, GIF, AVIF…), applies the EXIF orientation,
 * flattens alpha on white, converts grayscale/CMYK to sRGB and resizes so the short side is
 * `shortSide` px (never larger than the source's own resolution is useful, but enlarging keeps
 * tiny images usable). Shapes beyond MAX_ASPECT_RATIO are refused from the header, before any
 * decoding, so the output is at most shortSide × (shortSide × MAX_ASPECT_RATIO) pixels.
 * With a `region`, only that part of the oriented photo (with REGION_MARGIN) is kept, cut
 * from the full-resolution photo before resizing.
 * Decodes with the shared photo policy (photoDecodeOptions): a photo the functions' inspector
 * accepts decodes here too; anything wrong with the photo is an ImageDecodeError.
 */
export async function decodeToRgb(
  input: Buffer | Uint8Array,
  shortSide = WORKING_SIZE,
  region?: PhotoRegion,
  maxPixels = MAX_INPUT_PIXELS,
): Promise<RgbImage> {
  const policy = photoDecodeOptions(maxPixels);
  let box: ReturnType<typeof regionBox> | undefined;
  let regionError: unknown;
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    const { width = 0, height = 0, orientation = 1 } = await sharp(input, policy).metadata();
    if (exceedsAspectRatio(width, height)) {
      throw new Error(`image ${width}×${height} is more elongated than ${MAX_ASPECT_RATIO}:1`);
    }
    // Orientations 5–8 turn the photo a quarter: the region is given on the photo as seen.
    // A region that does not fit is the caller's error, not the photo's: thrown as it is.
    const [seenWidth, seenHeight] = orientation >= 5 ? [height, width] : [width, height];
    if (region) {
      try {
        box = regionBox(region, seenWidth, seenHeight);
      } catch (error) {
        regionError = error;
        throw error;
      }
    }
    let pipeline = sharp(input, policy).rotate();
    if (box) pipeline = pipeline.extract(box);
    decoded = await pipeline
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize({ width: shortSide, height: shortSide, fit: 'outside', kernel: 'lanczos3' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    if (error === regionError) throw error;
    throw new ImageDecodeError((error as Error).message, { cause: error });
  }
  const { data, info } = decoded;
  if (info.channels !== 3) throw new Error(`expected 3 channels, got ${info.channels}`);
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    width: info.width,
    height: info.height,
  };
}

function rawSharp(image: RgbImage): Sharp {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
}

async function toRgb(pipeline: Sharp): Promise<RgbImage> {
  const { data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    width: info.width,
    height: info.height,
  };
}

export interface CropBox {
  /** Fractions of the image (0..1). */
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface ViewOptions {
  crop?: CropBox;
  flip?: boolean;
}

/** Crops (default: centred square) and resizes to `size`×`size`. */
export async function cropResize(
  image: RgbImage,
  size: number,
  view: ViewOptions = {},
): Promise<RgbImage> {
  const side = Math.min(image.width, image.height);
  const crop = view.crop ?? {
    left: (1 - side / image.width) / 2,
    top: (1 - side / image.height) / 2,
    width: side / image.width,
    height: side / image.height,
  };
  const left = Math.max(0, Math.min(image.width - 1, Math.round(crop.left * image.width)));
  const top = Math.max(0, Math.min(image.height - 1, Math.round(crop.top * image.height)));
  const width = Math.max(1, Math.min(image.width - left, Math.round(crop.width * image.width)));
  const height = Math.max(1, Math.min(image.height - top, Math.round(crop.height * image.height)));
  let pipeline = rawSharp(image)
    .extract({ left, top, width, height })
    .resize({ width: size, height: size, fit: 'fill', kernel: 'lanczos3' });
  if (view.flip) pipeline = pipeline.flop();
  return toRgb(pipeline);
}

/**
 * Test-time views: 'center' = 1 view, 'flip' = centre + mirror, 'multi' = centre, mirror and two
 * 85 % corner crops. Crops of these views are relative to the centred square (see viewOfImage).
 */
export type TtaMode = 'center' | 'flip' | 'multi';

export function ttaViews(mode: TtaMode): ViewOptions[] {
  if (mode === 'center') return [{}];
  if (mode === 'flip') return [{}, { flip: true }];
  const s = 0.85;
  const corners: CropBox[] = [
    { left: 0, top: 0, width: s, height: s },
    { left: 1 - s, top: 1 - s, width: s, height: s },
  ];
  return [{}, { flip: true }, ...corners.map((crop) => ({ crop }))];
}

/** Resolves a view whose crop is relative to the centred square into image fractions. */
export function viewOfImage(image: RgbImage, view: ViewOptions): ViewOptions {
  if (!view.crop) return view;
  const side = Math.min(image.width, image.height);
  const sx = side / image.width;
  const sy = side / image.height;
  return {
    flip: view.flip,
    crop: {
      left: (1 - sx) / 2 + view.crop.left * sx,
      top: (1 - sy) / 2 + view.crop.top * sy,
      width: view.crop.width * sx,
      height: view.crop.height * sy,
    },
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
