import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from './backend.js';
import { readNpmArtifacts } from './backbones.js';

/**
 * The yardstick latency figures are stated against: one plain MobileNetV2 (alpha 1.0) pass at
 * 224 × 224, run as exported (tfjs-layers), on the current backend. Its weights ship inside the
 * nsfwjs npm package, so every machine has it, offline, with or without ../shared: a recipe's
 * time divided by this one compares across machines, backends and load, where milliseconds do
 * not. The network is cut at its last feature map (`out_relu`) and average-pooled, as a plain
 * feature extractor; nsfwjs's own head is left out.
 */
export const REFERENCE_PASS = {
  id: 'mobilenet-v2-1.0@224',
  origin: 'MobileNetV2 alpha 1.0, 224 × 224, as shipped by nsfwjs 4.4.0 (models/mobilenet_v2)',
  inputSize: 224,
} as const;

export interface ReferencePass {
  /** Runs one pass on a fixed input and returns its wall time in ms (output read back). */
  time(): number;
  dispose(): void;
}

export async function loadReferencePass(): Promise<ReferencePass> {
  await initBackend();
  const artifacts = await readNpmArtifacts({ packageName: 'nsfwjs', modelDir: 'mobilenet_v2' });
  const full = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
  const trunk = tfl.model({ inputs: full.inputs, outputs: full.getLayer('out_relu').output });
  const size = REFERENCE_PASS.inputSize;
  // A fixed, non-trivial input (values in −1..1 like a normalised photo): every pass does the same work.
  const input = tf.tidy(() => tf.reshape(tf.sin(tf.range(0, size * size * 3)), [1, size, size, 3]));
  const time = () => {
    const start = performance.now();
    const pooled = tf.tidy(() => tf.mean(trunk.predict(input) as tf.Tensor4D, [1, 2]));
    pooled.dataSync();
    pooled.dispose();
    return performance.now() - start;
  };
  time(); // warm-up: kernels compiled, memory grown, outside the measurement
  return {
    time,
    dispose: () => {
      input.dispose();
      full.dispose();
    },
  };
}
