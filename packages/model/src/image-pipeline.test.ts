import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from './backend.js';
import {
  ImageDecodeError,
  cropResize,
  decodeToRgb,
  regionBox,
  toInputTensor,
  type RgbImage,
} from './image-pipeline.js';
import { readDataset } from './dataset.js';
import { FOOTPRINTS_DIR, hasShared } from './test-helpers.js';
import { NEEDS } from '../../../tests/requirements.js';

/** 60×40 image: left half red, right half blue; a green square marks the top-left corner. */
async function markerImage(): Promise<Sharp> {
  const w = 60;
  const h = 40;
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      const marker = x < 10 && y < 10;
      data[i] = marker ? 0 : x < w / 2 ? 255 : 0;
      data[i + 1] = marker ? 255 : 0;
      data[i + 2] = marker ? 0 : x < w / 2 ? 0 : 255;
    }
  return sharp(data, { raw: { width: w, height: h, channels: 3 } });
}

function pixel(image: RgbImage, x: number, y: number): [number, number, number] {
  const i = (Math.round(y) * image.width + Math.round(x)) * 3;
  return [image.data[i] as number, image.data[i + 1] as number, image.data[i + 2] as number];
}

/** Stores the upright image under each EXIF orientation so that a correct reader recovers it. */
async function withOrientation(orientation: number): Promise<Buffer> {
  const upright = await (await markerImage()).png().toBuffer();
  // Inverse transform of each orientation (EXIF spec): stored = inverse(upright).
  // One operation per pipeline: sharp applies rotate/flip/flop in its own fixed order otherwise.
  const steps: Record<number, ((s: Sharp) => Sharp)[]> = {
    1: [],
    2: [(s) => s.flop()],
    3: [(s) => s.rotate(180)],
    4: [(s) => s.flip()],
    5: [(s) => s.rotate(90), (s) => s.flop()],
    6: [(s) => s.rotate(-90)],
    7: [(s) => s.rotate(-90), (s) => s.flop()],
    8: [(s) => s.rotate(90)],
  };
  let stored = upright;
  for (const step of steps[orientation] ?? []) stored = await step(sharp(stored)).png().toBuffer();
  return sharp(stored).withMetadata({ orientation }).jpeg({ quality: 95 }).toBuffer();
}

describe('image pipeline', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('applies EXIF orientation %i', async (orientation) => {
    const rgb = await decodeToRgb(await withOrientation(orientation), 40);
    expect(rgb.height).toBe(40);
    expect(rgb.width).toBe(60);
    const [r, g, b] = pixel(rgb, 3, 3);
    expect(g).toBeGreaterThan(180); // green marker back at the top-left
    expect(r).toBeLessThan(80);
    expect(pixel(rgb, 20, 30)[0]).toBeGreaterThan(180); // red half on the left
    expect(pixel(rgb, 50, 30)[2]).toBeGreaterThan(180); // blue half on the right
    expect(b).toBeLessThan(80);
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])(
    'frames a region of the photo as seen (EXIF orientation %i applied first)',
    async (orientation) => {
      const photo = await withOrientation(orientation);
      // The upright photo: green marker top-left, red left half, blue right half.
      const left = await decodeToRgb(photo, 40, { x: 0, y: 0, width: 0.4, height: 0.5 });
      expect(left.width / left.height).toBeCloseTo(27 / 22, 1);
      expect(pixel(left, 2, 2)[1]).toBeGreaterThan(180);
      expect(pixel(left, left.width - 3, left.height - 3)[0]).toBeGreaterThan(180);
      const right = await decodeToRgb(photo, 40, { x: 0.6, y: 0.4, width: 0.35, height: 0.5 });
      expect(pixel(right, right.width / 2, right.height / 2)[2]).toBeGreaterThan(180);
    },
  );

  it('adds a margin around a region and refuses regions outside the photo, tiny or elongated', () => {
    expect(regionBox({ x: 0.25, y: 0.25, width: 0.5, height: 0.5 }, 1000, 800)).toEqual({
      left: 200,
      top: 160,
      width: 600,
      height: 480,
    });
    expect(regionBox({ x: 0, y: 0, width: 1, height: 1 }, 1000, 800)).toEqual({
      left: 0,
      top: 0,
      width: 1000,
      height: 800,
    });
    for (const region of [
      { x: -0.1, y: 0, width: 0.5, height: 0.5 },
      { x: 0.6, y: 0, width: 0.5, height: 0.5 },
      { x: 0, y: 0, width: 0, height: 0.5 },
      { x: Number.NaN, y: 0, width: 0.5, height: 0.5 },
      { x: 0, y: 0, width: 0.01, height: 0.01 },
      { x: 0, y: 0, width: 1, height: 0.05 },
    ])
      expect(() => regionBox(region, 1000, 800), JSON.stringify(region)).toThrow();
  });

  it.each(['png', 'webp', 'jpeg'] as const)(
    'decodes %s to 3-channel sRGB at the working size',
    async (format) => {
      const input = await (await markerImage()).toFormat(format).toBuffer();
      const rgb = await decodeToRgb(input, 100);
      expect(Math.min(rgb.width, rgb.height)).toBe(100);
      expect(rgb.data.length).toBe(rgb.width * rgb.height * 3);
    },
  );

  it('converts grayscale and flattens alpha on white', async () => {
    const gray = await sharp({
      create: { width: 50, height: 50, channels: 3, background: '#808080' },
    })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    expect((await sharp(gray).metadata()).channels).toBe(1);
    const g = await decodeToRgb(gray, 32);
    expect(g.data.length).toBe(32 * 32 * 3);
    expect(Math.abs((g.data[0] as number) - 128)).toBeLessThan(4);
    const transparent = await sharp({
      create: { width: 40, height: 40, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
    })
      .png()
      .toBuffer();
    const t = await decodeToRgb(transparent, 32);
    expect(pixel(t, 5, 5)).toEqual([255, 255, 255]);
  });

  it('refuses images above the pixel limit', async () => {
    const huge = await sharp({
      create: { width: 8000, height: 6000, channels: 3, background: '#000' },
    })
      .jpeg()
      .toBuffer();
    await expect(decodeToRgb(huge)).rejects.toThrow(/pixel limit/i);
  });

  it('decodes under the shared photo policy: the caller’s pixel bound, every failure an ImageDecodeError', async () => {
    const photo = await sharp({
      create: { width: 640, height: 480, channels: 3, background: '#654' },
    })
      .jpeg()
      .toBuffer();
    expect((await decodeToRgb(photo, 64, undefined, 640 * 480)).height).toBe(64);
    await expect(decodeToRgb(photo, 64, undefined, 640 * 480 - 1)).rejects.toThrow(
      ImageDecodeError,
    );
    await expect(decodeToRgb(photo.subarray(0, photo.length / 2))).rejects.toThrow(
      ImageDecodeError,
    );
    await expect(decodeToRgb(Buffer.from('pas une image'))).rejects.toThrow(ImageDecodeError);
  });

  it('bounds the decoded size whatever the shape: strips beyond 10:1 are refused before decoding', async () => {
    const strip = (w: number, h: number) =>
      sharp({ create: { width: w, height: h, channels: 3, background: '#654' } })
        .png()
        .toBuffer();
    // 64 × 6,400 would have been enlarged to 320 × 32,000 (30 MB) to reach the short side.
    await expect(decodeToRgb(await strip(64, 6400))).rejects.toThrow(/elongated/);
    await expect(decodeToRgb(await strip(6400, 64))).rejects.toThrow(/elongated/);
    // At the limit, the long side is at most 10 × the working short side.
    const widest = await decodeToRgb(await strip(640, 64), 320);
    expect([widest.width, widest.height]).toEqual([3200, 320]);
  });

  it('crops a centred square at the backbone size and normalises per backbone', async () => {
    await initBackend();
    const rgb = await decodeToRgb(await (await markerImage()).png().toBuffer(), 80);
    const view = await cropResize(rgb, 224);
    expect([view.width, view.height]).toEqual([224, 224]);
    const mobilenet = toInputTensor([view], 'mobilenet');
    const unit = toInputTensor([view], 'unit');
    expect(mobilenet.shape).toEqual([1, 224, 224, 3]);
    expect(tf.min(mobilenet).dataSync()[0]).toBeGreaterThanOrEqual(-1);
    expect(tf.max(unit).dataSync()[0]).toBeLessThanOrEqual(1);
    tf.dispose([mobilenet, unit]);
  });

  describe.skipIf(!hasShared)('on real footprint photos', NEEDS.shared, () => {
    it('decodes every format of the dev set to the working size', async () => {
      const dataset = await readDataset(FOOTPRINTS_DIR);
      for (const image of dataset.images.slice(0, 12)) {
        const rgb = await decodeToRgb(await image.read());
        expect(Math.min(rgb.width, rgb.height)).toBe(320);
      }
    });
  });
});
