import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { classWeights, trainLinearHead } from './classifier.js';
import { createRandom } from './random.js';

/**
 * The reference: the same objective minimised by TensorFlow's autodiff, as the head was
 * trained before its gradient was written out by hand.
 */
function autodiffWeights(
  features: Float32Array,
  labels: Int32Array,
  k: number,
  opts: { l2: number; epochs: number; learningRate: number },
  standardise: { mean: Float32Array; scale: Float32Array },
  initial: Float32Array,
): Float32Array {
  const n = labels.length;
  const d = features.length / n;
  const cw = classWeights(labels, k);
  const sampleWeights = Float32Array.from(labels, (l) => cw[l] as number);
  const swSum = sampleWeights.reduce((a, v) => a + v, 0);
  const x = tf.div(
    tf.sub(tf.tensor2d(features, [n, d]), tf.tensor1d(standardise.mean)),
    tf.tensor1d(standardise.scale),
  );
  const y = tf.oneHot(tf.tensor1d(labels, 'int32'), k);
  const sw = tf.tensor1d(sampleWeights);
  const w = tf.variable(tf.tensor2d(initial, [d, k]));
  const b = tf.variable(tf.zeros([k]));
  const optimizer = tf.train.adam(opts.learningRate);
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    optimizer.minimize(() => {
      const logits = tf.add(tf.matMul(x, w), b);
      const perSample = tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1));
      const dataLoss = tf.div(tf.sum(tf.mul(perSample, sw)), swSum);
      return tf.add(dataLoss, tf.mul(opts.l2, tf.sum(tf.square(w)))) as tf.Scalar;
    });
  }
  const out = new Float32Array(w.dataSync());
  tf.dispose([x, y, sw, w, b]);
  optimizer.dispose();
  return out;
}

describe('trainLinearHead', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('follows the same path as autodiff on the same objective (hand-written gradient)', () => {
    const random = createRandom(7);
    const n = 60;
    const d = 24;
    const k = 4;
    // Unbalanced classes, so the class weights matter.
    const labels = Int32Array.from({ length: n }, (_, i) => (i < 30 ? 0 : i % k));
    const features = Float32Array.from({ length: n * d }, (_, i) => {
      const row = Math.floor(i / d);
      const j = i % d;
      return (j === (labels[row] as number) ? 1.5 : 0) + random() - 0.5;
    });
    const opts = { l2: 0.03, epochs: 40, learningRate: 0.01, seed: 3, balanceClasses: true };
    const losses: number[] = [];
    const head = trainLinearHead(features, labels, k, {
      ...opts,
      onEpoch: (_, loss) => losses.push(loss),
    });
    // Same initial weights as trainLinearHead draws from its seed.
    const init = createRandom(opts.seed);
    const initial = Float32Array.from({ length: d * k }, () => (init() - 0.5) * 0.001);
    const reference = autodiffWeights(features, labels, k, opts, head, initial);
    let maxDiff = 0;
    for (let i = 0; i < reference.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs((reference[i] as number) - (head.weights[i] as number)));
    expect(maxDiff).toBeLessThan(1e-4);
    // The loss is reported every 10 epochs and after the last one, and it goes down.
    expect(losses).toHaveLength(5);
    expect(losses.at(-1)).toBeLessThan(losses[0] as number);
  });
});
