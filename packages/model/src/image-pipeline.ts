import sharp, { type OutputInfo, type Sharp } from 'sharp';
import {
  MAX_ASPECT_RATIO,
  exceedsAspectRatio,
  photoDecodeOptions,
  regionBox,
  type PhotoRegion,
} from '@wildlens/shared';
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
