import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/**
 * A plain conv chain (MobileNetV1-style Keras export) rewritten as fused kernels.
 *
 * tfjs-layers runs every Conv → BatchNormalization → ReLU6 as three kernels with two
 * intermediate tensors; on the wasm backend that costs 2.5× the fused conv with the batch norm
 * folded into its weights and bias (measured on MobileNetV1 0.75: ~95 → ~35 ms per image).
 */
export interface FusedConvChain {
  /** [n, h, w, 3] → the output of the chain's last layer (4-D) or its global average (2-D). */
  run(input: tf.Tensor4D): tf.Tensor;
  /** The last conv output ([n, h, w, c]), before any global pooling. */
  spatial(input: tf.Tensor4D): tf.Tensor4D;
  /** The folded kernels in order (the offline bundle exports them as a graph model). */
  readonly ops: readonly FusedOp[];
  dispose(): void;
}

export interface FusedOp {
  kind: 'conv' | 'depthwise';
  filter: tf.Tensor4D;
  bias: tf.Tensor1D;
  strides: [number, number];
  pad: 'same' | 'valid';
  activation: 'linear' | 'relu' | 'relu6';
}

type Activation = FusedOp['activation'];

function activationOf(layer: tfl.layers.Layer): Activation | null {
  const config = layer.getConfig();
  const className = layer.getClassName();
  if (className === 'Activation') {
    const name = config.activation as string;
    return name === 'relu' || name === 'relu6' || name === 'linear' ? name : null;
  }
  if (className === 'ReLU') {
    const max = config.maxValue as number | null | undefined;
    const slope = (config.negativeSlope as number | undefined) ?? 0;
    const threshold = (config.threshold as number | undefined) ?? 0;
    if (slope !== 0 || threshold !== 0) return null;
    if (max === null || max === undefined) return 'relu';
    return max === 6 ? 'relu6' : null;
  }
  return null;
}

/** The single layer feeding `layer`, or null when it has several inputs (residual adds, concats). */
function soleInboundLayer(layer: tfl.layers.Layer): tfl.layers.Layer | null {
  const nodes = layer.inboundNodes;
  if (nodes.length !== 1) return null;
  const inbound = (nodes[0] as { inboundLayers: tfl.layers.Layer[] }).inboundLayers;
  return inbound.length === 1 ? (inbound[0] as tfl.layers.Layer) : null;
}

/**
 * Folds `model` up to the layer `until` into fused conv kernels, or returns null when the graph is
 * not a plain chain of Conv2D / DepthwiseConv2D / BatchNormalization / ReLU layers (callers then
 * run the layers model as it is). `until` may be a GlobalAveragePooling2D, which becomes a mean.
 */
export function foldConvChain(model: tfl.LayersModel, until: string): FusedConvChain | null {
  const ops: FusedOp[] = [];
  let pooled = false;
  const owned: tf.Tensor[] = [];
  const fail = () => {
    tf.dispose(owned);
    return null;
  };
  let previous: tfl.layers.Layer | null = null;
  for (const layer of model.layers) {
    const className = layer.getClassName();
    if (className === 'InputLayer') {
      previous = layer;
      continue;
    }
    const inbound = soleInboundLayer(layer);
    // Sequential models keep their InputLayer out of `layers`: the first layer hangs off it.
    const expected = previous ?? (inbound?.getClassName() === 'InputLayer' ? inbound : undefined);
    if (!inbound || inbound !== expected) return fail();
    previous = layer;
    const config = layer.getConfig();
    if (className === 'Conv2D' || className === 'DepthwiseConv2D') {
      const dilation = config.dilationRate as number[] | number | undefined;
      const dilated = Array.isArray(dilation)
        ? dilation.some((d) => d !== 1)
        : (dilation ?? 1) !== 1;
      const multiplier = (config.depthMultiplier as number | undefined) ?? 1;
      if (dilated || multiplier !== 1 || config.dataFormat === 'channels_first') return fail();
      const activation = config.activation === 'linear' ? 'linear' : null;
      if (!activation) return fail();
      const [kernel, bias] = layer.getWeights() as [tf.Tensor4D, tf.Tensor1D | undefined];
      const outChannels = className === 'Conv2D' ? kernel.shape[3] : kernel.shape[2];
      const filter = tf.clone(kernel);
      const b = bias ? tf.clone(bias) : tf.zeros([outChannels]);
      owned.push(filter, b);
      ops.push({
        kind: className === 'Conv2D' ? 'conv' : 'depthwise',
        filter,
        bias: b as tf.Tensor1D,
        strides: config.strides as [number, number],
        pad: config.padding as 'same' | 'valid',
        activation: 'linear',
      });
    } else if (className === 'BatchNormalization') {
      const op = ops[ops.length - 1];
      if (!op || op.activation !== 'linear') return fail();
      const weights = layer.getWeights();
      const hasScale = config.scale !== false;
      const hasCenter = config.center !== false;
      let k = 0;
      const gamma = hasScale ? weights[k++] : undefined;
      const beta = hasCenter ? weights[k++] : undefined;
      const [mean, variance] = [weights[k++], weights[k++]] as [tf.Tensor1D, tf.Tensor1D];
      const epsilon = (config.epsilon as number | undefined) ?? 1e-3;
      const [filter, bias] = tf.tidy(() => {
        const scale = tf.div(gamma ?? tf.onesLike(variance), tf.sqrt(tf.add(variance, epsilon)));
        // Conv2D kernels are [h, w, in, out]; depthwise [h, w, in, 1]: scale the output channel axis.
        const shaped = op.kind === 'conv' ? scale : tf.reshape(scale, [1, 1, -1, 1]);
        return [
          tf.mul(op.filter, shaped) as tf.Tensor4D,
          tf.add(tf.mul(tf.sub(op.bias, mean), scale), beta ?? tf.zerosLike(mean)) as tf.Tensor1D,
        ];
      });
      tf.dispose([op.filter, op.bias]);
      owned.push(filter, bias);
      op.filter = filter;
      op.bias = bias;
    } else if (className === 'Activation' || className === 'ReLU') {
      const op = ops[ops.length - 1];
      const activation = activationOf(layer);
      if (!op || op.activation !== 'linear' || !activation) return fail();
      op.activation = activation;
    } else if (className === 'GlobalAveragePooling2D' && layer.name === until) {
      pooled = true;
    } else {
      return fail();
    }
    if (layer.name === until) {
      const spatial = (input: tf.Tensor4D): tf.Tensor4D =>
        tf.tidy(() => {
          let h: tf.Tensor4D = input;
          for (const op of ops) {
            const args = {
              x: h,
              filter: op.filter,
              strides: op.strides,
              pad: op.pad,
              bias: op.bias,
              activation: op.activation,
            };
            h = op.kind === 'conv' ? tf.fused.conv2d(args) : tf.fused.depthwiseConv2d(args);
          }
          return h;
        });
      return {
        run: (input) => tf.tidy(() => (pooled ? tf.mean(spatial(input), [1, 2]) : spatial(input))),
        spatial,
        ops,
        dispose: () => tf.dispose(owned),
      };
    }
  }
  return fail();
}
