/** Image formats the backend accepts, identified by their magic bytes (never by name or type). */
export type AcceptedImageFormat = 'jpeg' | 'png' | 'webp';

export type SniffedFormat =
  AcceptedImageFormat | 'gif' | 'heic' | 'svg' | 'html' | 'zip' | 'unknown';

const startsWith = (buf: Uint8Array, bytes: number[], offset = 0): boolean =>
  buf.length >= offset + bytes.length && bytes.every((b, i) => buf[offset + i] === b);

export function sniffImageFormat(buf: Uint8Array): SniffedFormat {
  if (startsWith(buf, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(buf, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(buf, [0x52, 0x49, 0x46, 0x46]) && startsWith(buf, [0x57, 0x45, 0x42, 0x50], 8)) {
    return 'webp';
  }
  if (startsWith(buf, [0x47, 0x49, 0x46, 0x38])) return 'gif';
  if (startsWith(buf, [0x50, 0x4b, 0x03, 0x04])) return 'zip';
  // ISO-BMFF "ftyp" box with a HEIF/AVIF brand.
  if (startsWith(buf, [0x66, 0x74, 0x79, 0x70], 4)) return 'heic';
  const head = Buffer.from(buf.subarray(0, 512)).toString('utf8').trimStart().toLowerCase();
  if (head.startsWith('<svg') || (head.startsWith('<?xml') && head.includes('<svg'))) return 'svg';
  if (head.startsWith('<!doctype html') || head.startsWith('<html') || head.includes('<script')) {
    return 'html';
  }
  return 'unknown';
}

export function isAcceptedFormat(format: SniffedFormat): format is AcceptedImageFormat {
  return format === 'jpeg' || format === 'png' || format === 'webp';
}
