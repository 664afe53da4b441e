/**
 * Helpers of the runtime's tests (Node, sharp): not part of the package (tsconfig.json excludes
 * this file), imported by its tests and by tests/e2e.
 */
import sharp from 'sharp';
import { jpegOrientation, sniffFormat } from './image-header.js';
import type { DecodedPhoto } from './pipeline.js';
import type { BundleReader } from './runtime.js';

/** What the browser's decoder gives: every pixel, upright, RGBA. */
export async function browserDecode(bytes: Buffer): Promise<DecodedPhoto> {
  const { data, info } = await sharp(bytes)
    .rotate()
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const format = sniffFormat(bytes);
  return {
    data: new Uint8Array(data),
    width: info.width,
    height: info.height,
    channels: 4,
    format,
    orientation: format === 'jpeg' ? jpegOrientation(bytes) : 1,
    oriented: true,
  };
}

/** Reads a bundle's files from memory; a file it lacks is missing. */
export function memoryReader(files: Map<string, Uint8Array>): BundleReader {
  return {
    readFile: async (p) => {
      const bytes = files.get(p);
      if (!bytes) throw new Error('absent');
      return bytes;
    },
  };
}
