/**
 * The server's image pipeline (packages/model image-pipeline.ts and features.ts renderViews),
 * step by step, on decoded pixels instead of sharp:
 * 1. `decodeToRgb`: alpha flattened on white, sharp's JPEG shrink-on-load (the JPEG decoded at
 *    1/2, 1/4 or 1/8 of its size when the photo is much larger than needed: emulated here by a
 *    box average of the full decode, the one step that is not bit-exact), then the resize to
 *    the working short side, in the photo's stored orientation, and only then the EXIF rotation
 *    (sharp resizes before it rotates);
 * 2. `renderViews`: the centred square at the backbone's input size and the whole photo at long
 *    side `wholeLongSide`, both resized with lanczos3.
 */
import {
  MAX_INPUT_PIXELS,
  cropBoxPixels,
  wholeViewSize,
  type FeatureRecipe,
  type RenderedViews,
  type RgbImage,
} from '@wildlens/model/inference';
import { MAX_ASPECT_RATIO, exceedsAspectRatio } from '@wildlens/shared';
import { REGION_ROWS, boxShrink, vipsResize } from './resample.js';

/** A decoded photo, as a browser canvas (RGBA) or another decoder (RGB) gives it. */
export interface DecodedPhoto {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 3 | 4;
  /** The encoded format (JPEG photos are shrunk on load by the server). */
  format: 'jpeg' | 'png' | 'webp' | 'other';
  /** EXIF orientation (1–8) of the file, 1 when absent. */
  orientation: number;
  /** Whether `data` is already turned upright (createImageBitmap with imageOrientation 'from-image'). */
  oriented: boolean;
  /**
   * The JPEG was decoded at 1/n of its size by the decoder's DCT scaling, as sharp decodes it
   * (browser.ts decodePhoto with WebCodecs' ImageDecoder): no emulation needed.
   */
  shrunkOnLoad?: number;
}

export class PhotoRejected extends Error {
  constructor(
    readonly code: 'too-elongated' | 'too-large' | 'empty',
    message: string,
  ) {
    super(message);
    this.name = 'PhotoRejected';
  }
}

/** Whether orientation `o` swaps width and height (5–8: a quarter turn, mirrored or not). */
function transposes(o: number): boolean {
  return o >= 5 && o <= 8;
}

/**
 * Applies EXIF orientation `o` to an image in stored order (`inverse`: takes an upright image
 * back to stored order). Orientation semantics as in the EXIF spec (and sharp's `.rotate()`).
 */
export function orient(image: RgbImage, o: number, inverse = false): RgbImage {
  if (o < 2 || o > 8) return image;
  const { width: w, height: h, data } = image;
  const swap = transposes(o);
  const outW = swap ? h : w;
  const outH = swap ? w : h;
  const out = new Uint8Array(data.length);
  // For each upright pixel (x, y), where it is in the stored image.
  const storedOf = (x: number, y: number, sw: number, sh: number): [number, number] => {
    switch (o) {
      case 2:
        return [sw - 1 - x, y];
      case 3:
        return [sw - 1 - x, sh - 1 - y];
      case 4:
        return [x, sh - 1 - y];
      case 5:
        return [y, x];
      case 6:
        return [y, sh - 1 - x];
      case 7:
        return [sw - 1 - y, sh - 1 - x];
      default:
        return [sw - 1 - y, x];
    }
  };
  if (!inverse) {
    for (let y = 0; y < outH; y++)
      for (let x = 0; x < outW; x++) {
        const [sx, sy] = storedOf(x, y, w, h);
        const s = (sy * w + sx) * 3;
        const d = (y * outW + x) * 3;
        out[d] = data[s] as number;
        out[d + 1] = data[s + 1] as number;
        out[d + 2] = data[s + 2] as number;
      }
  } else {
    // `image` is upright (w × h); the stored image is outW × outH.
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const [sx, sy] = storedOf(x, y, outW, outH);
        const s = (y * w + x) * 3;
        const d = (sy * outW + sx) * 3;
        out[d] = data[s] as number;
        out[d + 1] = data[s + 1] as number;
        out[d + 2] = data[s + 2] as number;
      }
  }
  return { data: out, width: outW, height: outH };
}

/** RGB with any alpha flattened on white (sharp `.flatten({ background: '#ffffff' })`). */
function toRgb(photo: DecodedPhoto): RgbImage {
  const { width, height, data, channels } = photo;
  if (channels === 3) return { width, height, data: Uint8Array.from(data) };
  const out = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < width * height * 4; i += 4, j += 3) {
    const a = data[i + 3] as number;
    if (a === 255) {
      out[j] = data[i] as number;
      out[j + 1] = data[i + 1] as number;
      out[j + 2] = data[i + 2] as number;
      continue;
    }
    // libvips vips_flatten: integer arithmetic, truncated.
    for (let c = 0; c < 3; c++)
      out[j + c] = Math.floor(((data[i + c] as number) * a + 255 * (255 - a)) / 255);
  }
  return { width, height, data: out };
}

/** The factor sharp's JPEG decoder shrinks by on load for an overall shrink of `shrink`. */
export function jpegShrinkOnLoad(shrink: number): number {
  let factor = shrink >= 8 ? 8 : shrink >= 4 ? 4 : shrink >= 2 ? 2 : 1;
  // sharp lowers it when the integer part of the shrink equals it (libjpeg rounding errors).
  if (factor > 1 && Math.trunc(shrink) === factor) factor /= 2;
  return factor;
}

/**
 * sharp's `decodeToRgb`: EXIF-upright sRGB at short side `shortSide` (enlarged when smaller).
 * Refuses what the server refuses before decoding: too elongated, too many pixels.
 */
export function decodeToWorking(photo: DecodedPhoto, shortSide: number): RgbImage {
  const { width, height } = photo;
  if (!(Math.min(width, height) > 0)) throw new PhotoRejected('empty', 'image is empty');
  const original = (photo.shrunkOnLoad ?? 1) ** 2 * width * height;
  if (exceedsAspectRatio(width, height))
    throw new PhotoRejected(
      'too-elongated',
      `image ${width}×${height} is more elongated than ${MAX_ASPECT_RATIO}:1`,
    );
  if (original > MAX_INPUT_PIXELS)
    throw new PhotoRejected('too-large', `image ${width}×${height} has too many pixels`);
  const o = photo.orientation;
  // fit 'outside' on a square box: both axes shrink by the smaller ratio.
  let shrink = Math.min(width, height) / shortSide;
  const factor = photo.shrunkOnLoad ?? (photo.format === 'jpeg' ? jpegShrinkOnLoad(shrink) : 1);
  let image: RgbImage;
  if (factor > 1 && !photo.shrunkOnLoad) {
    // sharp decodes this JPEG at 1/factor (DCT scaling); the decoder did not: a box average
    // stands in for it, read straight from the decoded pixels (a JPEG has no alpha), before
    // anything else touches the full-size image.
    const source = { data: photo.data as Uint8Array, width, height };
    image = boxShrink(boxShrink(source, factor, 'v', photo.channels), factor, 'h');
  } else image = toRgb(photo);
  // Work in the stored orientation, as sharp does, and turn upright at the end.
  if (photo.oriented) image = orient(image, o, true);
  if (factor > 1) shrink = Math.min(image.width, image.height) / shortSide;
  if (shrink !== 1) image = vipsResize(image, shrink, shrink, REGION_ROWS.decodedFile);
  return orient(image, o);
}

/** Extracts a pixel box of `image`. */
function extract(
  image: RgbImage,
  box: { left: number; top: number; width: number; height: number },
): RgbImage {
  const out = new Uint8Array(box.width * box.height * 3);
  for (let y = 0; y < box.height; y++)
    out.set(
      image.data.subarray(
        ((box.top + y) * image.width + box.left) * 3,
        ((box.top + y) * image.width + box.left + box.width) * 3,
      ),
      y * box.width * 3,
    );
  return { data: out, width: box.width, height: box.height };
}

/** sharp `resize({ width, height, fit: 'fill', kernel: 'lanczos3' })`. */
function resizeFill(image: RgbImage, width: number, height: number): RgbImage {
  return vipsResize(image, image.width / width, image.height / height);
}

/** The recipe's views of a working image (features.ts renderViews, without the mirror). */
export function renderViews(
  image: RgbImage,
  inputSize: number,
  recipe: FeatureRecipe,
): RenderedViews {
  const center = resizeFill(extract(image, cropBoxPixels(image)), inputSize, inputSize);
  const { width, height } = wholeViewSize(image, recipe.wholeLongSide);
  return { center, whole: resizeFill(image, width, height) };
}
