/**
 * Every file of the hostile corpus (tests/fixtures/hostile) through the validators used by
 * both the identification API and the ingestion trigger: each gets its intended outcome.
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ImageRejection, inspectImage, normaliseToJpeg } from './inspect.js';

const dir = new URL('../../../tests/fixtures/hostile/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('manifest.json', dir), 'utf8')) as {
  cases: { file: string; expected: string; description: string }[];
};
const limits = { maxBytes: 10 * 1024 * 1024, maxPixels: 40_000_000, minSide: 64 };

async function outcome(data: Buffer): Promise<{ result: string; output?: Buffer }> {
  try {
    await inspectImage(data, limits);
    const { data: output } = await normaliseToJpeg(data, { maxSide: 1024, maxPixels: 40_000_000 });
    return { result: 'accepted', output };
  } catch (err) {
    if (err instanceof ImageRejection) return { result: err.code };
    throw err;
  }
}

describe('hostile corpus through the image validators', () => {
  it('has at least 30 files', () => {
    expect(manifest.cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(manifest.cases)('$file ($description) → $expected', async ({ file, expected }) => {
    const { result, output } = await outcome(readFileSync(new URL(file, dir)));
    expect(result).toBe(expected);
    if (output) {
      const meta = await sharp(output).metadata();
      expect(meta.format).toBe('jpeg');
      expect(meta.space).toBe('srgb');
      expect(meta.exif).toBeUndefined();
    }
  });

  it('applies every EXIF orientation: 320×200 stored upright', async () => {
    for (let orientation = 1; orientation <= 8; orientation++) {
      const data = readFileSync(new URL(`exif-orientation-${orientation}.jpg`, dir));
      const { output } = await outcome(data);
      const meta = await sharp(output).metadata();
      const swapped = orientation >= 5;
      expect([meta.width, meta.height]).toEqual(swapped ? [200, 320] : [320, 200]);
    }
  });
});
