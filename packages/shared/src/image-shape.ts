/**
 * Shape rule applied by every path that decodes an untrusted image (identification, ingestion,
 * the model's decoder), so decoding costs what the model needs whatever the shape.
 *
 * The model works on a short side of a few hundred pixels: a 64×625,000 strip resized to
 * that short side becomes a 320×3,125,000 buffer (3 GB). Footprint photos are close to square
 * (4:3, 16:9, at most a 21:9 phone panorama), so the long side may be at most 10 times the
 * short one: decoded sizes are then at most 320×3,200 (3 MB) per image.
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
