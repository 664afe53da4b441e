/**
 * The server's resizes, reproduced in plain JS on 8-bit RGB pixels.
 *
 * The server decodes and resizes with sharp (libvips 8.18, kernel lanczos3). What libvips does,
 * per axis (vertical first, then horizontal), checked against sharp pixel for pixel
 * (offline-runtime/src/resample.test.ts):
 * - downsizing by s (vips_reducev/reduceh, "gap" 2): a box shrink by k = ⌊in / out / 2⌋ when
 *   k > 1 (see boxShrink), then a lanczos3 reduce by s / k:
 *   2·rint(3s)+1 taps centred on the input pixel under the output's centre, kernel offset
 *   quantised to 1/64 pixel, normalised, truncated to 12-bit fixed point, edge pixels
 *   repeated, one rounding per output;
 * - upsizing (vips_affine, bicubic = Catmull-Rom): input coordinate out / scale − ½, positions
 *   quantised to 1/64, 12-bit coefficients, each row rounded, then the column rounded.
 * Output sizes round to nearest. Bit-exact with sharp on raw RGB input at every size tried.
 */
import type { RgbImage } from '@wildlens/model/inference';

const SHIFT = 12;
const ONE = 1 << SHIFT;
const HALF = ONE >> 1;
/** libvips quantises sub-pixel positions to 1/64 (VIPS_TRANSFORM_SCALE). */
const POSITIONS = 64;

type Axis = 'h' | 'v';

/** C's rint(): round half to even. */
function rint(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function lanczos3(x: number): number {
  if (x === 0) return 1;
  if (x < -3 || x > 3) return 0;
  return (3 * Math.sin(Math.PI * x) * Math.sin((Math.PI * x) / 3)) / (Math.PI * Math.PI * x * x);
}

function clamp255(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Box average of `factor` pixels along `axis` (vips_shrinkh/v, "ceil": a last partial block
 * repeats the edge pixel). libvips's uchar path rounds with a fixed-point reciprocal:
 * ((sum + ⌊factor/2⌋) × ⌊2²⁴ / factor⌋) >> 24, which is not always the rounded mean.
 */
export function boxShrink(
  image: RgbImage,
  factor: number,
  axis: Axis,
  /** 4: `image.data` is RGBA (its alpha ignored; vertical only), read without an RGB copy. */
  inputChannels: 3 | 4 = 3,
): RgbImage {
  const { width, height, data } = image;
  if (inputChannels === 4 && axis !== 'v')
    throw new Error('boxShrink: RGBA input is vertical only');
  const outW = axis === 'h' ? Math.ceil(width / factor) : width;
  const outH = axis === 'v' ? Math.ceil(height / factor) : height;
  const out = new Uint8Array(outW * outH * 3);
  const amend = factor >> 1;
  const multiplier = Math.floor(2 ** 24 / factor);
  if (axis === 'v') {
    const stride = width * 3;
    const acc = new Float64Array(stride);
    for (let y = 0; y < outH; y++) {
      acc.fill(amend);
      for (let k = 0; k < factor; k++) {
        const line = Math.min(height - 1, y * factor + k);
        if (inputChannels === 3) {
          const row = line * stride;
          for (let i = 0; i < stride; i++) acc[i] = (acc[i] as number) + (data[row + i] as number);
        } else {
          const row = line * width * 4;
          for (let x = 0, i = 0; x < width; x++, i += 3) {
            const p = row + x * 4;
            acc[i] = (acc[i] as number) + (data[p] as number);
            acc[i + 1] = (acc[i + 1] as number) + (data[p + 1] as number);
            acc[i + 2] = (acc[i + 2] as number) + (data[p + 2] as number);
          }
        }
      }
      const q = y * stride;
      for (let i = 0; i < stride; i++)
        out[q + i] = Math.floor(((acc[i] as number) * multiplier) / 16_777_216);
    }
  } else {
    for (let y = 0; y < outH; y++) {
      const row = y * width * 3;
      for (let x = 0; x < outW; x++) {
        let r = amend;
        let g = amend;
        let b = amend;
        for (let k = 0; k < factor; k++) {
          const p = row + Math.min(width - 1, x * factor + k) * 3;
          r += data[p] as number;
          g += data[p + 1] as number;
          b += data[p + 2] as number;
        }
        const q = (y * outW + x) * 3;
        out[q] = Math.floor((r * multiplier) / 16_777_216);
        out[q + 1] = Math.floor((g * multiplier) / 16_777_216);
        out[q + 2] = Math.floor((b * multiplier) / 16_777_216);
      }
    }
  }
  return { data: out, width: outW, height: outH };
}

/**
 * libvips computes output rows region by region and restarts the accumulation of the sampling
 * position at each region's first row (columns are computed in one run); the floating-point
 * rounding of that accumulation decides some quantised positions. Regions are 16 rows when
 * sharp reads raw pixels (its "fat strip"), 10 when it decodes a file (measured against
 * sharp 0.35 / libvips 8.18 at many sizes; pipeline.test.ts).
 */
export const REGION_ROWS = { rawInput: 16, decodedFile: 10 } as const;

/** The lanczos3 taps of each output position: source indices (edge-clamped) and 12-bit weights. */
function reduceTaps(
  inLen: number,
  outLen: number,
  shrink: number,
  extra: number,
  region: number,
): { index: Int32Array; weight: Int32Array; points: number } {
  const points = 2 * rint(3 * shrink) + 1;
  const half = Math.floor(points / 2);
  const index = new Int32Array(outLen * points);
  const weight = new Int32Array(outLen * points);
  const masks = new Map<number, Int32Array>();
  const maskAt = (position: number): Int32Array => {
    let mask = masks.get(position);
    if (!mask) {
      // The kernel's centre sits `position / 64 − ½` from the window's middle tap.
      const offset = position / POSITIONS - 0.5;
      const c = new Float64Array(points);
      let sum = 0;
      for (let i = 0; i < points; i++) {
        c[i] = lanczos3((i - half - offset) / shrink);
        sum += c[i] as number;
      }
      mask = new Int32Array(points);
      for (let i = 0; i < points; i++) mask[i] = Math.trunc(((c[i] as number) / sum) * ONE);
      masks.set(position, mask);
    }
    return mask;
  };
  // Output o samples the input at X (pixel k spanning [k, k + 1)); the window is centred on
  // the pixel containing X, and the offset inside it is quantised to 1/64.
  const offset = (1 + extra) / 2 - 1;
  let X = 0;
  for (let o = 0; o < outLen; o++) {
    if (o % region === 0) X = (o + 0.5) * shrink - 0.5 - offset;
    const ix = Math.trunc(X);
    const mask = maskAt((Math.trunc((X - ix) * POSITIONS * 2) + 1) >> 1);
    for (let i = 0; i < points; i++) {
      index[o * points + i] = Math.min(inLen - 1, Math.max(0, ix - half + i));
      weight[o * points + i] = mask[i] as number;
    }
    X += shrink;
  }
  return { index, weight, points };
}

/** vips_reduceh / vips_reducev with gap 2: `shrink` ≥ 1 along one axis. */
export function reduce(image: RgbImage, shrink: number, axis: Axis, regionRows: number): RgbImage {
  const inLen = axis === 'h' ? image.width : image.height;
  const outLen = Math.max(1, Math.round(inLen / shrink));
  let extra = outLen * shrink - inLen;
  let residual = shrink;
  let source = image;
  const intShrink = Math.max(1, Math.floor(inLen / outLen / 2));
  if (intShrink > 1) {
    source = boxShrink(image, intShrink, axis);
    residual /= intShrink;
    extra /= intShrink;
  }
  if (residual === 1) return source;
  const len = axis === 'h' ? source.width : source.height;
  const { index, weight, points } = reduceTaps(
    len,
    outLen,
    residual,
    extra,
    axis === 'v' ? regionRows : outLen,
  );
  const { width, height, data } = source;
  const outW = axis === 'h' ? outLen : width;
  const outH = axis === 'v' ? outLen : height;
  const out = new Uint8Array(outW * outH * 3);
  if (axis === 'h') {
    for (let y = 0; y < outH; y++) {
      const row = y * width * 3;
      for (let x = 0; x < outW; x++) {
        let r = HALF;
        let g = HALF;
        let b = HALF;
        for (let i = 0; i < points; i++) {
          const p = row + (index[x * points + i] as number) * 3;
          const w = weight[x * points + i] as number;
          r += w * (data[p] as number);
          g += w * (data[p + 1] as number);
          b += w * (data[p + 2] as number);
        }
        const q = (y * outW + x) * 3;
        out[q] = clamp255(r >> SHIFT);
        out[q + 1] = clamp255(g >> SHIFT);
        out[q + 2] = clamp255(b >> SHIFT);
      }
    }
  } else {
    const stride = width * 3;
    const acc = new Int32Array(stride);
    for (let y = 0; y < outH; y++) {
      acc.fill(HALF);
      for (let i = 0; i < points; i++) {
        const row = (index[y * points + i] as number) * stride;
        const w = weight[y * points + i] as number;
        for (let k = 0; k < stride; k++)
          acc[k] = (acc[k] as number) + w * (data[row + k] as number);
      }
      const q = y * stride;
      for (let k = 0; k < stride; k++) out[q + k] = clamp255((acc[k] as number) >> SHIFT);
    }
  }
  return { data: out, width: outW, height: outH };
}

function catmullRom(x: number): [number, number, number, number] {
  const dx = 1 - x;
  const x2 = dx * x;
  const mx2 = -0.5 * x2;
  const c1 = x2 * (-1.5 * x + 1) + dx;
  return [mx2 * dx, c1, 1 - (mx2 + c1), mx2 * x];
}

const BICUBIC_TABLE: Int32Array[] = Array.from({ length: POSITIONS + 1 }, (_, i) =>
  Int32Array.from(catmullRom(i / POSITIONS).map((c) => Math.trunc(c * ONE))),
);

/** Bicubic taps along one axis: for each output, 4 clamped source indices and weights. */
function upscaleTaps(
  inLen: number,
  outLen: number,
  scale: number,
): { index: Int32Array; weight: Int32Array } {
  const index = new Int32Array(outLen * 4);
  const weight = new Int32Array(outLen * 4);
  for (let o = 0; o < outLen; o++) {
    const at = o / scale - 0.5;
    const base = Math.floor(at);
    const mask = BICUBIC_TABLE[Math.round((at - base) * POSITIONS)] as Int32Array;
    for (let i = 0; i < 4; i++) {
      index[o * 4 + i] = Math.min(inLen - 1, Math.max(0, base - 1 + i));
      weight[o * 4 + i] = mask[i] as number;
    }
  }
  return { index, weight };
}

/**
 * vips_affine with the bicubic interpolator: scales ≥ 1, output `outW` × `outH`. Each input
 * row is interpolated horizontally once (rounded, as libvips rounds each of the four rows it
 * combines), then the rows are combined vertically.
 */
export function upscale(
  image: RgbImage,
  hscale: number,
  vscale: number,
  outW: number,
  outH: number,
): RgbImage {
  const { width, height, data } = image;
  const h = upscaleTaps(width, outW, hscale);
  const v = upscaleTaps(height, outH, vscale);
  const stride = outW * 3;
  const rows = new Int32Array(height * stride);
  for (let y = 0; y < height; y++) {
    const source = y * width;
    for (let x = 0; x < outW; x++)
      for (let b = 0; b < 3; b++) {
        let s = 0;
        for (let i = 0; i < 4; i++)
          s +=
            (h.weight[x * 4 + i] as number) *
            (data[(source + (h.index[x * 4 + i] as number)) * 3 + b] as number);
        rows[y * stride + x * 3 + b] = (s + HALF) >> SHIFT;
      }
  }
  const out = new Uint8Array(outH * stride);
  for (let y = 0; y < outH; y++) {
    const r0 = (v.index[y * 4] as number) * stride;
    const r1 = (v.index[y * 4 + 1] as number) * stride;
    const r2 = (v.index[y * 4 + 2] as number) * stride;
    const r3 = (v.index[y * 4 + 3] as number) * stride;
    const [w0, w1, w2, w3] = [
      v.weight[y * 4],
      v.weight[y * 4 + 1],
      v.weight[y * 4 + 2],
      v.weight[y * 4 + 3],
    ] as number[];
    const q = y * stride;
    for (let i = 0; i < stride; i++) {
      const s =
        HALF +
        w0! * (rows[r0 + i] as number) +
        w1! * (rows[r1 + i] as number) +
        w2! * (rows[r2 + i] as number) +
        w3! * (rows[r3 + i] as number);
      out[q + i] = clamp255(s >> SHIFT);
    }
  }
  return { data: out, width: outW, height: outH };
}

/**
 * vips_resize(scale = 1 / hshrink, vscale = 1 / vshrink, kernel lanczos3): what sharp's
 * `resize` runs once it has the shrink factors. Axes reduced vertically then horizontally; an
 * axis that grows is scaled by the bicubic affine afterwards.
 */
export function vipsResize(
  image: RgbImage,
  hshrink: number,
  vshrink: number,
  regionRows: number = REGION_ROWS.rawInput,
): RgbImage {
  // libvips receives scales and inverts them again: keep the same floating-point values.
  const hscale = 1 / hshrink;
  const vscale = 1 / vshrink;
  let out = image;
  if (vscale < 1) out = reduce(out, 1 / vscale, 'v', regionRows);
  if (hscale < 1) out = reduce(out, 1 / hscale, 'h', regionRows);
  if (hscale > 1 || vscale > 1) {
    const h = Math.max(hscale, 1);
    const v = Math.max(vscale, 1);
    out = upscale(out, h, v, Math.round(out.width * h), Math.round(out.height * v));
  }
  return out;
}
