/**
 * Fuzzing of the image path (issue 13): real photos with bits flipped, cut short, or with
 * their declared dimensions rewritten to extreme values, through the inspector, the storage
 * normaliser and the model's decoder. Each one is either refused by the inspector with a French
 * ImageRejection, or decoded within bounds by every later decoder (issue 20, finding 14: one
 * decoder policy, so what the inspector accepts the model decodes): the normalised photo never
 * exceeds its longest side, and the model's decoded buffer never exceeds S × 10 S pixels (its
 * memory bound, S its working short side), whatever the shape. No timing is asserted
 * (benchmarks and the soak script measure time).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_ASPECT_RATIO } from '@wildlens/shared';
import { decodeToRgb, WORKING_SIZE } from '../../../packages/model/src/image-pipeline.js';
import { fuzzParameters, fuzzTimeoutMs } from '../../../tests/helpers/fuzz.js';
import { notFrenchBecause } from '../../../tests/helpers/french.js';
import { ImageRejection, inspectImage, normaliseToJpeg } from './inspect.js';

const limits = { maxBytes: 10 * 1024 * 1024, maxPixels: 40_000_000, minSide: 64 };
const fixture = (name: string) =>
  readFileSync(new URL(`../../../tests/fixtures/hostile/${name}`, import.meta.url));
const REAL = {
  jpeg: fixture('valid.jpg'),
  png: fixture('valid.png'),
  webp: fixture('valid.webp'),
  rotated: fixture('exif-orientation-6.jpg'),
};

/** Offsets of the declared width and height in each format's header (big or little endian). */
function rewriteDimensions(image: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(image);
  if (out[0] === 0x89) {
    out.writeUInt32BE(width >>> 0, 16);
    out.writeUInt32BE(height >>> 0, 20);
  } else if (out[0] === 0xff) {
    // First SOFn segment: FF Cx, length (2), precision (1), height (2), width (2).
    for (let i = 2; i < out.length - 9; i++) {
      if (out[i] === 0xff && (out[i + 1] === 0xc0 || out[i + 1] === 0xc2)) {
        out.writeUInt16BE(height & 0xffff, i + 5);
        out.writeUInt16BE(width & 0xffff, i + 7);
        break;
      }
    }
  } else if (out.toString('latin1', 12, 16) === 'VP8 ') {
    // Lossy WebP frame header: 14-bit width and height after the start code.
    out.writeUInt16LE(width & 0x3fff, 26);
    out.writeUInt16LE(height & 0x3fff, 28);
  }
  return out;
}

const dimension = fc.oneof(
  fc.integer({ min: 0, max: 70_000 }),
  fc.constantFrom(1, 63, 64, 640, 6_400, 65_535, 625_000, 2 ** 31),
);

const mutated = fc
  .tuple(
    fc.constantFrom(...(Object.keys(REAL) as (keyof typeof REAL)[])),
    fc.oneof(
      fc.record({ kind: fc.constant('flips' as const), at: fc.array(fc.nat(), { maxLength: 8 }) }),
      fc.record({
        kind: fc.constant('cut' as const),
        keep: fc.double({ min: 0, max: 1, noNaN: true }),
      }),
      fc.record({ kind: fc.constant('dims' as const), width: dimension, height: dimension }),
    ),
  )
  .map(([name, m]) => {
    const source = REAL[name];
    if (m.kind === 'cut') return source.subarray(0, Math.floor(source.length * m.keep));
    if (m.kind === 'dims') return rewriteDimensions(source, m.width, m.height);
    const out = Buffer.from(source);
    for (const at of m.at) out[at % out.length] = (out[at % out.length] ?? 0) ^ (1 << (at % 8));
    return out;
  });

describe('mutated real images under fuzzing', () => {
  it(
    'are refused in French by the inspector, or decoded within bounds by the normaliser and the model decoder',
    { timeout: fuzzTimeoutMs(200, 150) },
    async () => {
      await fc.assert(
        // The model decodes at its recipe's working short side: 320 (format 1) or 448.
        fc.asyncProperty(mutated, fc.constantFrom(WORKING_SIZE, 448), async (image, side) => {
          let inspected;
          try {
            inspected = await inspectImage(image, limits);
          } catch (err) {
            expect(err).toBeInstanceOf(ImageRejection);
            const { messageFr } = err as ImageRejection;
            expect(notFrenchBecause(messageFr), messageFr).toBeNull();
            return;
          }
          const { width, height } = inspected;
          expect(width * height).toBeLessThanOrEqual(limits.maxPixels);
          expect(Math.min(width, height)).toBeGreaterThanOrEqual(limits.minSide);
          expect(Math.max(width, height)).toBeLessThanOrEqual(
            MAX_ASPECT_RATIO * Math.min(width, height),
          );
          // Accepted by the inspector: every decoder must decode it (no catch: a refusal fails).
          const stored = await normaliseToJpeg(image, {
            maxSide: 1024,
            maxPixels: limits.maxPixels,
          });
          expect(Math.max(stored.width, stored.height)).toBeLessThanOrEqual(1024);
          const rgb = await decodeToRgb(image, side, undefined, limits.maxPixels);
          expect(rgb.data.length).toBe(rgb.width * rgb.height * 3);
          expect(Math.min(rgb.width, rgb.height)).toBe(side);
          expect(rgb.width * rgb.height).toBeLessThanOrEqual(side * side * MAX_ASPECT_RATIO);
        }),
        fuzzParameters(200),
      );
    },
  );
});
