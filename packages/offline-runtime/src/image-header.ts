/**
 * What the pipeline needs to know about an encoded photo before decoding it: its format (by
 * magic bytes, as the server does) and, for a JPEG, its EXIF orientation (tag 0x0112 of the
 * APP1 Exif segment's first IFD). Malformed or absent metadata reads as orientation 1.
 */
import type { DecodedPhoto } from './pipeline.js';

export function sniffFormat(bytes: Uint8Array): DecodedPhoto['format'] {
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47)
    return 'png';
  const riff = String.fromCharCode(...bytes.subarray(0, 4));
  const webp = String.fromCharCode(...bytes.subarray(8, 12));
  if (riff === 'RIFF' && webp === 'WEBP') return 'webp';
  return 'other';
}

function orientationInTiff(view: DataView, start: number, end: number): number {
  if (start + 8 > end) return 1;
  const order = view.getUint16(start);
  const little = order === 0x4949;
  if (!little && order !== 0x4d4d) return 1;
  const ifd = start + view.getUint32(start + 4, little);
  if (ifd + 2 > end) return 1;
  const count = view.getUint16(ifd, little);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > end) return 1;
    if (view.getUint16(entry, little) === 0x0112) {
      const value = view.getUint16(entry + 8, little);
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

/** EXIF orientation of a JPEG (1 when it has none or it cannot be read). */
export function jpegOrientation(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) return 1;
    const marker = bytes[offset + 1] as number;
    // Start of scan or end of image: metadata segments come before.
    if (marker === 0xda || marker === 0xd9) return 1;
    const length = view.getUint16(offset + 2);
    const start = offset + 4;
    if (
      marker === 0xe1 &&
      start + 6 <= bytes.length &&
      String.fromCharCode(...bytes.subarray(start, start + 4)) === 'Exif'
    )
      return orientationInTiff(view, start + 6, Math.min(bytes.length, offset + 2 + length));
    offset += 2 + length;
  }
  return 1;
}

/** Stored width and height of a JPEG (its frame header), undefined when unreadable. */
export function jpegSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 2;
  while (offset + 9 <= bytes.length) {
    if (bytes[offset] !== 0xff) return undefined;
    const marker = bytes[offset + 1] as number;
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7)) {
      offset += 2;
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return undefined;
    // Start-of-frame markers (baseline, progressive…), not DHT (c4), JPG (c8) or DAC (cc).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
      return { height: view.getUint16(offset + 5), width: view.getUint16(offset + 7) };
    offset += 2 + view.getUint16(offset + 2);
  }
  return undefined;
}
