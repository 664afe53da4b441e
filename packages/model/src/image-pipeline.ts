import sharp, { type Sharp } from 'sharp';
import { MAX_ASPECT_RATIO, exceedsAspectRatio } from '@wildlens/shared';
import {
  MAX_INPUT_PIXELS,
  WORKING_SIZE,
  cropBoxPixels,
  type CropBox,
  type RgbImage,
} from './tensor-input.js';

export {
  MAX_INPUT_PIXELS,
  WORKING_SIZE,
  toInputTensor,
  type CropBox,
  type Preprocessing,
  type RgbImage,
} from './tensor-input.js';

// Each request decodes a different photo: sharp's operation cache only costs memory here.
sharp.cache(false);

/**
 * A part of a photo the hiker framed (one print), as fractions of the photo as seen, i.e.
 * after its EXIF orientation: x, y of the top-left corner, width and height.
 */
export interface PhotoRegion {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Context kept around a framed print, as a share of the frame's size on each side. */
export const REGION_MARGIN = 0.1;
/** A framed region smaller than this (pixels, each side, margin included) is refused. */
export const MIN_REGION_PIXELS = 16;

/**
 * The pixel box of a region (with `margin` around it, clipped to the image) in an image of
 * width × height. Throws on a region that is not inside the photo, too small or too elongated.
 */
export function regionBox(
  region: PhotoRegion,
  width: number,
  height: number,
  margin = REGION_MARGIN,
): { left: number; top: number; width: number; height: number } {
  const { x, y } = region;
  const values = [x, y, region.width, region.height];
  const tolerance = 1e-6;
  if (
    values.some((v) => !Number.isFinite(v)) ||
    x < 0 ||
    y < 0 ||
    region.width <= 0 ||
    region.height <= 0 ||
    x + region.width > 1 + tolerance ||
    y + region.height > 1 + tolerance
  )
    throw new Error(`region ${JSON.stringify(region)} is not inside the photo (fractions 0..1)`);
  const x0 = Math.max(0, x - margin * region.width);
  const y0 = Math.max(0, y - margin * region.height);
  const x1 = Math.min(1, x + region.width * (1 + margin));
  const y1 = Math.min(1, y + region.height * (1 + margin));
  const left = Math.floor(x0 * width);
  const top = Math.floor(y0 * height);
  const box = {
    left,
    top,
    width: Math.min(width - left, Math.ceil(x1 * width) - left),
    height: Math.min(height - top, Math.ceil(y1 * height) - top),
  };
  if (Math.min(box.width, box.height) < MIN_REGION_PIXELS)
    throw new Error(`region ${box.width}×${box.height} px is too small to show a print`);
  if (exceedsAspectRatio(box.width, box.height))
    throw new Error(
      `region ${box.width}×${box.height} px is more elongated than ${MAX_ASPECT_RATIO}:1`,
    );
  return box;
}

/**
 * Decodes any supported format (JPEG, PNG, WebP, TIFF, GIF, AVIF…), applies the EXIF orientation,
 * flattens alpha on white, converts grayscale/CMYK to sRGB and resizes so the short side is
 * `shortSide` px (never larger than the source's own resolution is useful, but enlarging keeps
 * tiny images usable). Shapes beyond MAX_ASPECT_RATIO are refused from the header, before any
 * decoding, so the output is at most shortSide × (shortSide × MAX_ASPECT_RATIO) pixels.
 * With a `region`, only that part of the oriented photo (with REGION_MARGIN) is kept, cut
 * from the full-resolution photo before resizing.
 */
export async function decodeToRgb(
  input: Buffer | Uint8Array,
  shortSide = WORKING_SIZE,
  region?: PhotoRegion,
): Promise<RgbImage> {
  const { width = 0, height = 0, orientation = 1 } = await sharp(input).metadata();
  if (exceedsAspectRatio(width, height)) {
    throw new Error(`image ${width}×${height} is more elongated than ${MAX_ASPECT_RATIO}:1`);
  }
  let pipeline = sharp(input, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' }).rotate();
  if (region) {
    // Orientations 5–8 turn the photo a quarter: the region is given on the photo as seen.
    const [seenWidth, seenHeight] = orientation >= 5 ? [height, width] : [width, height];
    pipeline = pipeline.extract(regionBox(region, seenWidth, seenHeight));
  }
  const { data, info } = await pipeline
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .resize({ width: shortSide, height: shortSide, fit: 'outside', kernel: 'lanczos3' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
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
  const { left, top, width, height } = cropBoxPixels(image, view.crop);
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
