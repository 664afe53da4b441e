import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { foldConvChain } from './fused-chain.js';
import { mobilenetLikeChain } from './tiny-backbone.js';

beforeAll(async () => {
  await initBackend();
});

describe('foldConvChain', () => {
  it('gives the layers model output with batch norms folded into fused convolutions', () => {
    const model = mobilenetLikeChain();
    const reference = tfl.model({
      inputs: model.inputs,
      outputs: model.getLayer('features').output as tfl.SymbolicTensor,
    });
    const input = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
    const expected = reference.predict(input) as tf.Tensor;
    const chain = foldConvChain(model, 'features');
    expect(chain).not.toBeNull();
    // The chain owns its weights: it must keep working once the source model is gone.
    model.dispose();
    const actual = chain?.run(input) as tf.Tensor;
    expect(actual.shape).toEqual([2, 16]);
    // The map before pooling is the reference's last conv output; its mean is the pooled feature.
    const map = chain?.spatial(input) as tf.Tensor4D;
    expect(map.shape).toEqual([2, 8, 8, 16]);
    expect(tf.max(tf.abs(tf.sub(tf.mean(map, [1, 2]), actual))).dataSync()[0]).toBeLessThan(1e-5);
    const maxError = tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0] as number;
    const scale = tf.max(tf.abs(expected)).dataSync()[0] as number;
    expect(scale).toBeGreaterThan(0.1);
    expect(maxError).toBeLessThan(1e-4 * Math.max(1, scale));
    tf.dispose([input, expected, actual, map]);
    chain?.dispose();
  });

  it('stops at a 4-D layer when asked to', () => {
    const model = mobilenetLikeChain();
    const chain = foldConvChain(model, model.layers[5]?.name as string);
    const out = chain?.run(tf.zeros([1, 32, 32, 3])) as tf.Tensor;
    expect(out.shape).toEqual([1, 8, 8, 8]);
    out.dispose();
    chain?.dispose();
    model.dispose();
  });

  it('refuses graphs that are not a plain chain (residual add) and leaks nothing', () => {
    const input = tfl.input({ shape: [16, 16, 4] });
    const conv = tfl.layers
      .conv2d({ filters: 4, kernelSize: 3, padding: 'same' })
      .apply(input) as tfl.SymbolicTensor;
    const added = tfl.layers.add().apply([input, conv]) as tfl.SymbolicTensor;
    const pooled = tfl.layers
      .globalAveragePooling2d({ name: 'features' })
      .apply(added) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: pooled });
    const before = tf.memory().numTensors;
    expect(foldConvChain(model, 'features')).toBeNull();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('refuses layers it cannot fold (dropout in the chain)', () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 2, kernelSize: 1 }),
        tfl.layers.dropout({ rate: 0.5 }),
        tfl.layers.globalAveragePooling2d({ name: 'features' }),
      ],
    });
    expect(foldConvChain(model, 'features')).toBeNull();
    model.dispose();
  });
});
