/** Bilinear pooling (browser-safe: tfjs-core only), shared by the server and the on-device runtime. */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Second-order ("bilinear") pooling of a backbone's feature map.
 *
 * Global average pooling keeps how much of each pattern a photo holds; the second moment of the
 * cells also keeps which patterns occur together at the same place, which is what tells a
 * 4-toed print with claw marks from a 5-toed one on the same mud. Done on all channels it would
 * be 1792² numbers, so cells are first centred and projected on the `dim` principal directions of
 * cells seen in training photos (PCA), then the upper triangle of the dim × dim second moment is
 * signed-square-rooted and L2-normalised (the usual "improved bilinear pooling" recipe).
 *
 * Measured (packages/model/README.md): a random projection instead of PCA loses what the pooling
 * brings, so the basis is fitted on training photos and travels with the model.
 */
export interface ProjectionBasis {
  channels: number;
  dim: number;
  /** Mean cell, [channels]. */
  mean: Float32Array;
  /** Principal directions, row-major [channels, dim], unit columns, most variance first. */
  components: Float32Array;
}

/** Length of a bilinear-pooled feature: the upper triangle (diagonal included) of dim × dim. */
export function bilinearLength(dim: number): number {
  return (dim * (dim + 1)) / 2;
}

/** A basis as tensors, uploaded once and reused by every photo (see PhotoFeaturizer). */
export interface BasisTensors {
  mean: tf.Tensor1D;
  components: tf.Tensor2D;
}

export function basisTensors(basis: ProjectionBasis): BasisTensors {
  return {
    mean: tf.tensor1d(basis.mean),
    components: tf.tensor2d(basis.components, [basis.channels, basis.dim]),
  };
}

/**
 * Bilinear pooling of one feature map ([1, h, w, channels]) through `basis`: centred cells
 * projected on the basis, their second moment's upper triangle, signed square root, L2 norm.
 */
export function bilinearPool(
  map: tf.Tensor4D,
  basis: ProjectionBasis,
  uploaded?: BasisTensors,
): Float32Array {
  const [, h, w, channels] = map.shape;
  if (channels !== basis.channels)
    throw new Error(`bilinearPool: map has ${channels} channels, basis ${basis.channels}`);
  const cellsCount = h * w;
  const moment = tf.tidy(() => {
    const { mean, components } = uploaded ?? basisTensors(basis);
    const cells = tf.sub(tf.reshape(map, [cellsCount, channels]), mean);
    const z = tf.matMul(cells, components);
    return tf.div(tf.matMul(z, z, true, false), cellsCount);
  });
  const m = moment.dataSync();
  moment.dispose();
  const d = basis.dim;
  const out = new Float32Array(bilinearLength(d));
  let k = 0;
  let norm = 0;
  for (let i = 0; i < d; i++)
    for (let j = i; j < d; j++) {
      const v = m[i * d + j] as number;
      const s = Math.sign(v) * Math.sqrt(Math.abs(v));
      out[k++] = s;
      norm += s * s;
    }
  const scale = 1 / (Math.sqrt(norm) + 1e-8);
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) * scale;
  return out;
}
