import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { sniffImageFormat } from './format.js';
import { ImageRejection, inspectImage, normaliseToJpeg } from './inspect.js';

const limits = { maxBytes: 10 * 1024 * 1024, maxPixels: 40_000_000, minSide: 64 };

const solid = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: { r: 120, g: 90, b: 60 } } });

async function rejectionOf(buf: Uint8Array): Promise<ImageRejection> {
  const err = await inspectImage(buf, limits).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageRejection);
  return err as ImageRejection;
}

describe('sniffImageFormat', () => {
  it('recognises formats by their bytes, not their names', async () => {
    expect(sniffImageFormat(await solid(8, 8).jpeg().toBuffer())).toBe('jpeg');
    expect(sniffImageFormat(await solid(8, 8).png().toBuffer())).toBe('png');
    expect(sniffImageFormat(await solid(8, 8).webp().toBuffer())).toBe('webp');
    expect(sniffImageFormat(await solid(8, 8).gif().toBuffer())).toBe('gif');
    expect(sniffImageFormat(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"></svg>'))).toBe(
      'svg',
    );
    expect(sniffImageFormat(Buffer.from('<!DOCTYPE html><html></html>'))).toBe('html');
    expect(sniffImageFormat(Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0]))).toBe('zip');
    expect(sniffImageFormat(Buffer.from('bonjour'))).toBe('unknown');
  });
});

describe('inspectImage', () => {
  it('accepts JPEG, PNG and WebP photos and reports oriented dimensions', async () => {
    const jpeg = await solid(300, 200).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    expect(await inspectImage(jpeg, limits)).toMatchObject({
      format: 'jpeg',
      width: 200,
      height: 300,
      orientation: 6,
    });
    expect((await inspectImage(await solid(100, 80).png().toBuffer(), limits)).format).toBe('png');
    expect((await inspectImage(await solid(100, 80).webp().toBuffer(), limits)).format).toBe(
      'webp',
    );
  });

  it('refuses empty, oversized, foreign, tiny and pixel-bomb inputs with French reasons', async () => {
    expect((await rejectionOf(Buffer.alloc(0))).code).toBe('empty');
    const big = await inspectImage(Buffer.alloc(11 * 1024 * 1024, 1), limits).catch((e) => e);
    expect((big as ImageRejection).code).toBe('too_large');
    const text = await rejectionOf(Buffer.from('ceci n’est pas une image'));
    expect(text.code).toBe('unsupported_format');
    expect(text.messageFr).toContain('JPEG, PNG ou WebP');
    expect((await rejectionOf(await solid(8, 8).gif().toBuffer())).code).toBe('unsupported_format');
    expect((await rejectionOf(await solid(1, 1).png().toBuffer())).code).toBe('too_small');
    // A PNG header declaring 30000 x 30000 pixels: refused from the header, never decoded.
    const bomb = await solid(64, 64).png().toBuffer();
    bomb.writeUInt32BE(30000, 16);
    bomb.writeUInt32BE(30000, 20);
    expect((await rejectionOf(bomb)).code).toBe('too_many_pixels');
  });

  it('refuses strips more elongated than 10:1 from the header, whatever their pixel count', async () => {
    // The case: a PNG declaring 64 × 625,000 (exactly 40 MP, every side ≥ 64) used to
    // pass and cost 3.5 GB in the model's decoder. The header alone decides now.
    const strip = await solid(64, 64).png().toBuffer();
    strip.writeUInt32BE(625_000, 20);
    const refused = await rejectionOf(strip);
    expect(refused.code).toBe('too_elongated');
    expect(refused.messageFr).toMatch(/trop allongée .*10 fois/);
    // A real elongated JPEG, rotated by EXIF: the rule applies to the oriented shape too.
    const tall = await solid(2000, 100).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    expect((await rejectionOf(tall)).code).toBe('too_elongated');
    // 10:1 exactly is a (wide) panorama: accepted.
    expect(await inspectImage(await solid(640, 64).png().toBuffer(), limits)).toMatchObject({
      width: 640,
      height: 64,
    });
  });
});

describe('inspectImage decodes under the shared policy (issue 20, finding 14)', () => {
  const noisy = () =>
    sharp({
      create: {
        width: 400,
        height: 300,
        channels: 3,
        background: '#808080',
        noise: { type: 'gaussian', mean: 128, sigma: 40 },
      },
    }).jpeg();

  it('refuses a photo cut short, whose header alone looks fine, before any other decoder sees it', async () => {
    const full = await noisy().toBuffer();
    const truncated = full.subarray(0, Math.floor(full.length / 2));
    expect((await sharp(truncated).metadata()).width).toBe(400);
    const refused = await rejectionOf(truncated);
    expect(refused.code).toBe('corrupt');
    expect(refused.messageFr).toBe("L'image est illisible ou endommagée.");
  });

  it('returns the decoded preview, oriented, at most 256 pixels a side', async () => {
    const inspected = await inspectImage(
      await noisy().withMetadata({ orientation: 6 }).toBuffer(),
      limits,
    );
    const preview = await sharp(inspected.preview).metadata();
    expect([preview.format, preview.width, preview.height]).toEqual(['jpeg', 192, 256]);
  });
});

describe('normaliseToJpeg', () => {
  it('applies EXIF orientation, bounds the size and strips all metadata', async () => {
    const input = await solid(2000, 1000)
      .jpeg()
      .withMetadata({ orientation: 6, exif: { IFD0: { Copyright: 'secret' } } })
      .toBuffer();
    const out = await normaliseToJpeg(input, { maxSide: 1024, maxPixels: 40_000_000 });
    expect(out.width).toBe(512);
    expect(out.height).toBe(1024);
    const meta = await sharp(out.data).metadata();
    expect(meta.format).toBe('jpeg');
    expect(meta.exif).toBeUndefined();
    expect(meta.orientation).toBeUndefined();
  });

  it('turns a truncated JPEG into a "corrupt" rejection', async () => {
    const full = await sharp({
      create: {
        width: 400,
        height: 300,
        channels: 3,
        background: '#808080',
        noise: { type: 'gaussian', mean: 128, sigma: 40 },
      },
    })
      .jpeg()
      .toBuffer();
    const truncated = full.subarray(0, Math.floor(full.length / 2));
    const err = await normaliseToJpeg(truncated, { maxSide: 1024, maxPixels: 40_000_000 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ImageRejection);
    expect((err as ImageRejection).code).toBe('corrupt');
  });
});
