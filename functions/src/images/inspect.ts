import sharp, { type Metadata } from 'sharp';
import { MAX_ASPECT_RATIO, exceedsAspectRatio, photoDecodeOptions } from '@wildlens/shared';
import { isAcceptedFormat, sniffImageFormat, type AcceptedImageFormat } from './format.js';

// Decoded pixel buffers are never reused across requests; the cache only holds memory.
sharp.cache(false);

export interface ImageLimits {
  maxBytes: number;
  maxPixels: number;
  minSide: number;
}

export type ImageRejectionCode =
  | 'empty'
  | 'too_large'
  | 'unsupported_format'
  | 'corrupt'
  | 'too_small'
  | 'too_many_pixels'
  | 'too_elongated'
  | 'suspicious_content';

/** Why an image was refused, with the French sentence shown to users and admins. */
export class ImageRejection extends Error {
  constructor(
    readonly code: ImageRejectionCode,
    readonly messageFr: string,
  ) {
    super(`${code}: ${messageFr}`);
    this.name = 'ImageRejection';
  }
}

/** The rejection of a photo that cannot be decoded, whichever decoder found out. */
export function corruptImage(): ImageRejection {
  return new ImageRejection('corrupt', "L'image est illisible ou endommagée.");
}

export interface InspectedImage {
  format: AcceptedImageFormat;
  /** Dimensions after EXIF orientation. */
  width: number;
  height: number;
  orientation: number;
  bytes: number;
  /**
   * The photo decoded under the shared policy into a PREVIEW_SIDE JPEG (oriented, sRGB, on
   * white): the proof that every later decode succeeds, and the observation's thumbnail.
   */
  preview: Buffer;
}

/** Longest side of the preview (the observation's thumbnail), pixels. */
export const PREVIEW_SIDE = 256;

const FORMAT_NAMES_FR = 'JPEG, PNG ou WebP';

/**
 * Validates an untrusted image: first from its bytes and header only (magic bytes, byte size,
 * declared dimensions and shape, so a pixel bomb or an absurdly elongated strip is refused
 * before any decoding, see MAX_ASPECT_RATIO), then by decoding it whole under the one decoder
 * policy (photoDecodeOptions) into its preview: a photo accepted here decodes in every later
 * step (stored copy, the model), and truncated or corrupt pixel data is refused here.
 */
export async function inspectImage(buf: Uint8Array, limits: ImageLimits): Promise<InspectedImage> {
  if (buf.length === 0) throw new ImageRejection('empty', 'Le fichier est vide.');
  if (buf.length > limits.maxBytes) {
    const mb = Math.round(limits.maxBytes / (1024 * 1024));
    throw new ImageRejection('too_large', `L'image dépasse la taille maximale de ${mb} Mo.`);
  }
  const sniffed = sniffImageFormat(buf);
  if (!isAcceptedFormat(sniffed)) {
    throw new ImageRejection(
      'unsupported_format',
      `Format non pris en charge (${sniffed === 'unknown' ? 'inconnu' : sniffed.toUpperCase()}) : envoyez une photo ${FORMAT_NAMES_FR}.`,
    );
  }
  if (containsMarkup(buf)) {
    // A valid image with HTML/script appended is a polyglot: harmless once re-encoded, but
    // nobody uploads such a file by accident, so it is refused outright.
    throw new ImageRejection(
      'suspicious_content',
      'Le fichier contient du code (HTML ou script) en plus de l’image : refusé.',
    );
  }
  let meta: Metadata;
  try {
    meta = await sharp(buf, { limitInputPixels: false, failOn: 'none' }).metadata();
  } catch {
    throw corruptImage();
  }
  if (meta.format !== sniffed) throw corruptImage();
  if ((meta.pages ?? 1) > 1) {
    throw new ImageRejection('unsupported_format', 'Les images animées ne sont pas acceptées.');
  }
  const rawWidth = meta.width ?? 0;
  const rawHeight = meta.height ?? 0;
  if (rawWidth * rawHeight > limits.maxPixels) {
    const mp = Math.round(limits.maxPixels / 1_000_000);
    throw new ImageRejection(
      'too_many_pixels',
      `L'image est trop grande (plus de ${mp} mégapixels) : réduisez sa résolution.`,
    );
  }
  const orientation = meta.orientation ?? 1;
  const swap = orientation >= 5 && orientation <= 8;
  const width = swap ? rawHeight : rawWidth;
  const height = swap ? rawWidth : rawHeight;
  if (Math.min(width, height) < limits.minSide) {
    throw new ImageRejection(
      'too_small',
      `L'image est trop petite (minimum ${limits.minSide} pixels de côté).`,
    );
  }
  if (exceedsAspectRatio(width, height)) {
    throw new ImageRejection(
      'too_elongated',
      `L'image est trop allongée (${width}×${height}) : le grand côté doit mesurer au plus ${MAX_ASPECT_RATIO} fois le petit.`,
    );
  }
  const preview = await decodePreview(buf, limits.maxPixels);
  return { format: sniffed, width, height, orientation, bytes: buf.length, preview };
}

/**
 * Decodes the whole photo under the shared policy, as every later decode does: the compressed
 * data is read to its end (a truncated or corrupt photo fails here, not later), at the reduced
 * scale JPEG and WebP shrink-on-load allow. Also makes the thumbnail of a stored training JPEG
 * written before thumbnails existed (thumbnail-migration.ts). Throws ImageRejection (corrupt).
 */
export async function decodePreview(buf: Uint8Array, maxPixels: number): Promise<Buffer> {
  try {
    return await sharp(buf, photoDecodeOptions(maxPixels))
      .rotate()
      .resize({ width: PREVIEW_SIDE, height: PREVIEW_SIDE, fit: 'inside' })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .jpeg({ quality: 80 })
      .toBuffer();
  } catch {
    throw corruptImage();
  }
}

// Long enough that random compressed bytes of a multi-megabyte photo never match by chance
// (a 4-byte tag like "<svg" would, about once per hundred 5 MB photos).
const MARKUP_SIGNATURES = ['<script', '<html', '<svg xmlns', '<?php', '<iframe', '<!doctype'];

/** ASCII case-insensitive search for markup anywhere in the bytes (cheap: one pass per tag). */
export function containsMarkup(buf: Uint8Array): boolean {
  const text = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1');
  const lower = text.toLowerCase();
  return MARKUP_SIGNATURES.some((tag) => lower.includes(tag));
}

/**
 * Re-encodes an accepted image as a baseline sRGB JPEG: EXIF orientation applied, longest
 * side bounded, and no metadata at all (sharp drops EXIF/GPS/XMP unless asked to keep it).
 */
export async function normaliseToJpeg(
  buf: Uint8Array,
  options: { maxSide: number; maxPixels: number; quality?: number },
): Promise<{ data: Buffer; width: number; height: number }> {
  try {
    const { data, info } = await sharp(buf, photoDecodeOptions(options.maxPixels))
      .rotate()
      .resize({
        width: options.maxSide,
        height: options.maxSide,
        fit: 'inside',
        withoutEnlargement: true,
      })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .jpeg({ quality: options.quality ?? 88 })
      .toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  } catch {
    throw corruptImage();
  }
}
