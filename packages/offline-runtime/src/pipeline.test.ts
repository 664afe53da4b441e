/**
 * The runtime's image pipeline against the server's (sharp): the same decoded pixels in, the
 * same working image and views out, bit for bit, except after sharp's JPEG shrink-on-load,
 * which the browser cannot reproduce (a box average stands in for the DCT-domain scaling).
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeToRgb } from '../../model/src/image-pipeline.js';
import { DEFAULT_FEATURE_RECIPE, renderViews as serverViews } from '../../model/src/features.js';
import { texturedPhoto } from '../../model/src/test-helpers.js';
import type { RgbImage } from '@wildlens/model/inference';
import { jpegOrientation, jpegSize, sniffFormat } from './image-header.js';
import { PhotoRejected, decodeToWorking, renderViews } from './pipeline.js';
import { vipsResize } from './resample.js';
import { browserDecode } from './test-helpers.js';

function difference(a: RgbImage, b: RgbImage): { max: number; mean: number } {
  expect([a.width, a.height]).toEqual([b.width, b.height]);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs((a.data[i] as number) - (b.data[i] as number));
    if (d > max) max = d;
    sum += d;
  }
  return { max, mean: sum / a.data.length };
}

const SHORT_SIDE = 448;

describe('decodeToWorking (sharp decodeToRgb in plain JS)', () => {
  const exact: [string, number, number, Parameters<typeof texturedPhoto>[2]][] = [
    ['small JPEG, enlarged (bicubic)', 300, 400, {}],
    ['JPEG reduced by 1.5 (lanczos3)', 1024, 683, { seed: 2 }],
    ['JPEG under the 2× shrink-on-load threshold', 1200, 880, { seed: 3 }],
    ['PNG reduced by 4 (box shrink, then lanczos3)', 2400, 1800, { format: 'png', seed: 4 }],
    ['PNG tall, enlarged', 250, 700, { format: 'png', seed: 5 }],
    ['JPEG, EXIF orientation 6', 800, 600, { orientation: 6, seed: 6 }],
    ['JPEG, EXIF orientation 3', 500, 375, { orientation: 3, seed: 7 }],
    ['JPEG, EXIF orientation 5', 640, 500, { orientation: 5, seed: 8 }],
    ['JPEG, EXIF orientation 8, enlarged', 400, 300, { orientation: 8, seed: 9 }],
  ];
  for (const [name, width, height, options] of exact)
    it(`is bit-exact: ${name}`, async () => {
      const bytes = await texturedPhoto(width, height, options);
      const server = await decodeToRgb(bytes, SHORT_SIDE);
      const working = decodeToWorking(await browserDecode(bytes), SHORT_SIDE);
      expect(difference(working, server).max).toBe(0);
      // The views cut from it too (centred square at 224, whole photo at long side 448).
      const expected = await serverViews(server, 224, DEFAULT_FEATURE_RECIPE);
      const actual = renderViews(working, 224, DEFAULT_FEATURE_RECIPE);
      expect(difference(actual.center, expected.center).max).toBe(0);
      expect(difference(actual.whole, expected.whole).max).toBe(0);
    });

  it('stays within a few levels where sharp shrinks the JPEG on load', async () => {
    for (const [width, height, seed] of [
      [2000, 1500, 10],
      [4032, 3024, 11],
      [3000, 4000, 12],
    ] as const) {
      const bytes = await texturedPhoto(width, height, { seed });
      const server = await decodeToRgb(bytes, SHORT_SIDE);
      const { max, mean } = difference(
        decodeToWorking(await browserDecode(bytes), SHORT_SIDE),
        server,
      );
      expect(max, `${width}×${height}`).toBeLessThanOrEqual(6);
      expect(mean, `${width}×${height}`).toBeLessThan(1);
    }
  });

  it('flattens alpha on white like sharp', async () => {
    const bytes = await texturedPhoto(500, 400, { format: 'png', alpha: true, seed: 13 });
    const server = await decodeToRgb(bytes, SHORT_SIDE);
    expect(difference(decodeToWorking(await browserDecode(bytes), SHORT_SIDE), server).max).toBe(0);
  });

  it('refuses what the server refuses before decoding', async () => {
    const strip = await browserDecode(await texturedPhoto(1100, 100, { format: 'png' }));
    expect(() => decodeToWorking(strip, SHORT_SIDE)).toThrow(PhotoRejected);
  });
});

describe('vipsResize', () => {
  it('matches sharp’s fill resize on raw pixels, down and up, unequal factors', async () => {
    const bytes = await texturedPhoto(517, 389, { format: 'png', seed: 21 });
    const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    const image = { data: new Uint8Array(data), width: info.width, height: info.height };
    for (const [w, h] of [
      [224, 224],
      [100, 300],
      [700, 300],
      [60, 45],
      [700, 800],
    ] as const) {
      const expected = await sharp(data, {
        raw: { width: info.width, height: info.height, channels: 3 },
      })
        .resize({ width: w, height: h, fit: 'fill', kernel: 'lanczos3' })
        .raw()
        .toBuffer();
      const actual = vipsResize(image, info.width / w, info.height / h);
      const d = difference(actual, { data: new Uint8Array(expected), width: w, height: h });
      expect(d.max, `${w}×${h}`).toBe(0);
    }
  });
});

describe('image header', () => {
  it('reads the EXIF orientation sharp writes, 1 when absent', async () => {
    for (const orientation of [1, 2, 3, 4, 5, 6, 7, 8])
      expect(jpegOrientation(await texturedPhoto(64, 48, { orientation }))).toBe(orientation);
    expect(jpegOrientation(await texturedPhoto(64, 48))).toBe(1);
    expect(jpegOrientation(new Uint8Array([0xff, 0xd8, 0xff, 0xe1, 0x00]))).toBe(1);
  });

  it('reads a JPEG’s stored size from its frame header', async () => {
    expect(jpegSize(await texturedPhoto(123, 45))).toEqual({ width: 123, height: 45 });
    expect(jpegSize(await texturedPhoto(64, 48, { orientation: 6 }))).toEqual({
      width: 64,
      height: 48,
    });
    expect(jpegSize(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]))).toBeUndefined();
  });

  it('tells formats by magic bytes', async () => {
    expect(sniffFormat(await texturedPhoto(32, 32))).toBe('jpeg');
    expect(sniffFormat(await texturedPhoto(32, 32, { format: 'png' }))).toBe('png');
    expect(
      sniffFormat(
        await sharp(await texturedPhoto(32, 32))
          .webp()
          .toBuffer(),
      ),
    ).toBe('webp');
    expect(sniffFormat(new TextEncoder().encode('GIF89a....'))).toBe('other');
  });
});
