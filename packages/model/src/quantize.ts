/**
 * Weight quantisation for the offline bundle, in the layout tfjs's weight loader dequantises
 * itself (`quantization` entries of a weights manifest): float16, or uint8 with a per-tensor
 * affine map (value = q × scale + min). No Python converter needed.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { WeightQuantization } from './offline-bundle-format.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half-precision bits of a float32, rounded to nearest even (overflow → ±Infinity). */
export function float16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // Inf / NaN
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit 1 in, then round to nearest even.
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mantissa & ((1 << shift) - 1);
    let bits = mantissa >>> shift;
    if (rest > half || (rest === half && bits & 1)) bits++;
    return sign | bits;
  }
  const rest = mantissa & 0x1fff;
  let bits = (e << 10) | (mantissa >>> 13);
  // A carry out of the mantissa bumps the exponent, which is the correctly rounded result.
  if (rest > 0x1000 || (rest === 0x1000 && bits & 1)) bits++;
  return sign | bits;
}

export interface QuantizedWeights {
  bytes: Uint8Array;
  /** The weights-manifest entry's `quantization`, absent for float32. */
  quantization?: tf.io.WeightsManifestEntry['quantization'];
}

/** Stores float32 weights as `dtype` (per tensor for uint8). */
export function quantizeWeights(values: Float32Array, dtype: WeightQuantization): QuantizedWeights {
  if (dtype === 'float32') return { bytes: new Uint8Array(Float32Array.from(values).buffer) };
  if (dtype === 'float16') {
    const half = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) half[i] = float16Bits(values[i] as number);
    return { bytes: new Uint8Array(half.buffer), quantization: { dtype: 'float16' } };
  }
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!Number.isFinite(min)) min = max = 0;
  const scale = max > min ? (max - min) / 255 : 1;
  const q = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++)
    q[i] = Math.max(0, Math.min(255, Math.round(((values[i] as number) - min) / scale)));
  return { bytes: q, quantization: { dtype: 'uint8', min, scale } };
}
