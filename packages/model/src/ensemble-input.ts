/**
 * An ensemble's input adapted to each part (browser-safe: tfjs-core only): the server's
 * ensembles (backbones.ts) and the on-device runtime feed their parts through it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackboneSpec } from './backbones.js';
import type { Preprocessing } from './tensor-input.js';

/** Converts an input normalised for `from` into the range expected by `to`, resizing if needed. */
export function adaptInput(
  input: tf.Tensor4D,
  from: Preprocessing,
  to: Pick<BackboneSpec, 'preprocessing' | 'inputSize'>,
  keepSize = false,
): tf.Tensor4D {
  let x = input;
  if (from !== to.preprocessing)
    x = from === 'unit' ? tf.sub(tf.mul(x, 2), 1) : tf.div(tf.add(x, 1), 2);
  if (!keepSize && (x.shape[1] !== to.inputSize || x.shape[2] !== to.inputSize)) {
    x = tf.image.resizeBilinear(x, [to.inputSize, to.inputSize], true);
  }
  return x;
}
