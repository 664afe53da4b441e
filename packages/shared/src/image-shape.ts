/**
 * Shape rule applied by every path that decodes an untrusted image (identification, ingestion,
 * the model's decoder), so decoding costs what the model needs whatever the shape.
 *
 * The model works on a short side of a few hundred pixels: a 64×625,000 strip resized to
 * that short side becomes a 320×3,125,000 buffer (3 GB). Footprint photos are close to square
 * (4:3, 16:9, at most a 21:9 phone panorama), so the long side may be at most 10 times the
 * short one: decoded sizes are then at most 320×3,200 (3 MB) per image.
 *
 * Also the geometry of a framed print (a region of the photo), shared by the API, which
 * validates it, and the model, which cuts it out.
 */
export const MAX_ASPECT_RATIO = 10;

/** True when the long side exceeds MAX_ASPECT_RATIO times the short one (or a side is 0). */
export function exceedsAspectRatio(width: number, height: number): boolean {
  const short = Math.min(width, height);
  return !(short > 0) || Math.max(width, height) > MAX_ASPECT_RATIO * short;
}

/** The default pixel bound of a photo (40 MP covers every phone camera); a param in the functions. */
export const DEFAULT_MAX_INPUT_PIXELS = 40_000_000;

/**
 * The one decoder policy for an untrusted photo, as sharp input options: every decode of it
 * (the inspector's check, the stored copy, the thumbnail, the model's decoder) uses these, so a
 * photo one of them accepts is never refused by another. `truncated`: a file cut short or
 * whose data cannot be decoded is refused; the recoverable warnings real cameras produce
 * (extraneous bytes before a marker…) are not. `limitInputPixels` bounds the decoded size.
 */
export function photoDecodeOptions(maxPixels: number = DEFAULT_MAX_INPUT_PIXELS): {
  failOn: 'truncated';
  limitInputPixels: number;
} {
  return { failOn: 'truncated', limitInputPixels: maxPixels };
}

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
/** Nor may a frame be narrower or shorter than this share of the photo (the API's rule). */
export const MIN_REGION_FRACTION = 0.02;
/** Rounding slack on the frame's right and bottom edges (fractions). */
const REGION_EDGE_TOLERANCE = 1e-6;

/** Finite fractions, a positive size, and the whole frame inside the photo. */
export function regionInsidePhoto(region: PhotoRegion): boolean {
  const { x, y, width, height } = region;
  return (
    [x, y, width, height].every((v) => Number.isFinite(v)) &&
    x >= 0 &&
    y >= 0 &&
    width > 0 &&
    height > 0 &&
    x + width <= 1 + REGION_EDGE_TOLERANCE &&
    y + height <= 1 + REGION_EDGE_TOLERANCE
  );
}

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
  if (!regionInsidePhoto(region))
    throw new Error(`region ${JSON.stringify(region)} is not inside the photo (fractions 0..1)`);
  const { x, y } = region;
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
