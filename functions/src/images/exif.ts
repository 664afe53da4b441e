import exifReader from 'exif-reader';
import sharp from 'sharp';

export interface ExifLocation {
  lat: number;
  lng: number;
  accuracyM?: number;
}

export interface ExifInfo {
  location: ExifLocation | null;
  takenAt: Date | null;
}

const NONE: ExifInfo = { location: null, takenAt: null };

function dmsToDegrees(value: unknown, ref: unknown, positiveRef: string): number | null {
  if (!Array.isArray(value) || value.length === 0) return null;
  const [d = 0, m = 0, s = 0] = value.map(Number);
  if (![d, m, s].every(Number.isFinite)) return null;
  const degrees = d + m / 60 + s / 3600;
  const sign = typeof ref === 'string' && ref.trim().toUpperCase() !== positiveRef ? -1 : 1;
  return sign * degrees;
}

/** "+02:00" → minutes east of UTC, or null. */
function offsetMinutes(value: unknown): number | null {
  const match = typeof value === 'string' ? /^([+-])(\d{2}):?(\d{2})$/.exec(value.trim()) : null;
  if (!match) return null;
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return match[1] === '-' ? -minutes : minutes;
}

/**
 * GPS position and capture time from a raw EXIF block (as sharp's `metadata().exif` gives it).
 * Never throws: unreadable or implausible values are simply absent. exif-reader reads
 * DateTimeOriginal (local camera time, no zone) as if it were UTC, so the EXIF offset tag,
 * when present, converts it to a real instant.
 */
export function parseExifInfo(exif: Buffer | undefined): ExifInfo {
  if (!exif || exif.length < 8) return NONE;
  let tags: ReturnType<typeof exifReader>;
  try {
    tags = exifReader(exif);
  } catch {
    return NONE;
  }
  let location: ExifLocation | null = null;
  const gps = tags.GPSInfo;
  if (gps) {
    const lat = dmsToDegrees(gps.GPSLatitude, gps.GPSLatitudeRef, 'N');
    const lng = dmsToDegrees(gps.GPSLongitude, gps.GPSLongitudeRef, 'E');
    const plausible = lat !== null && lng !== null && Math.abs(lat) <= 90 && Math.abs(lng) <= 180;
    // 0,0 is what many cameras write when they had no fix.
    if (plausible && !(lat === 0 && lng === 0)) {
      location = { lat: round(lat, 6), lng: round(lng, 6) };
      const accuracy = Number(gps.GPSHPositioningError);
      if (Number.isFinite(accuracy) && accuracy >= 0) location.accuracyM = round(accuracy, 1);
    }
  }
  let takenAt: Date | null = null;
  const original = tags.Photo?.DateTimeOriginal ?? tags.Image?.DateTime;
  if (original instanceof Date && !Number.isNaN(original.getTime())) {
    const offset = offsetMinutes(tags.Photo?.OffsetTimeOriginal);
    takenAt = new Date(original.getTime() - (offset ?? 0) * 60_000);
  }
  return { location, takenAt };
}

/** Reads the EXIF block from the image header only (no pixel decoding). */
export async function extractExifInfo(image: Uint8Array): Promise<ExifInfo> {
  try {
    const meta = await sharp(image, { limitInputPixels: false, failOn: 'none' }).metadata();
    return parseExifInfo(meta.exif);
  } catch {
    return NONE;
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
