import * as tf from '@tensorflow/tfjs-core';
import { EigenvalueDecomposition, Matrix, QrDecomposition } from 'ml-matrix';
import type { ProjectionBasis } from './bilinear.js';
import { createRandom } from './random.js';

export {
  basisTensors,
  bilinearLength,
  bilinearPool,
  type BasisTensors,
  type ProjectionBasis,
} from './bilinear.js';

/**
 * PCA of `cells` ([n, channels] row-major): the mean and the top `dim` eigenvectors of the
 * covariance, found by randomised subspace iteration (the covariance matmuls run on the tfjs
 * backend) and a Rayleigh–Ritz step on the small projected matrix (ml-matrix). Deterministic for
 * a given seed; each component's sign is fixed so that its largest entry is positive.
 */
export function fitProjectionBasis(
  cells: Float32Array,
  channels: number,
  dim: number,
  seed = 1,
  iterations = 12,
): ProjectionBasis {
  const n = cells.length / channels;
  if (!Number.isInteger(n) || n < dim + 1)
    throw new Error(`fitProjectionBasis: need more than ${dim} cells, got ${n}`);
  const k = Math.min(channels, dim + 8); // a few extra directions make the iteration converge faster
  const mean = new Float32Array(channels);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < channels; c++)
      mean[c] = (mean[c] as number) + (cells[i * channels + c] as number) / n;
  const covariance = tf.tidy(() => {
    const x = tf.sub(tf.tensor2d(cells, [n, channels]), tf.tensor1d(mean));
    // Xᵀ materialised first: the wasm backend's matMul with transposeA is ~17× slower here
    // (6,144 × 1,280 cells: 26.6 s of CPU instead of 1.6 s).
    return tf.div(tf.matMul(tf.transpose(x), x), n) as tf.Tensor2D;
  });
  try {
    const random = createRandom(seed);
    let q = new Matrix(channels, k);
    for (let r = 0; r < channels; r++) for (let c = 0; c < k; c++) q.set(r, c, random() - 0.5);
    q = orthonormal(q);
    for (let it = 0; it < iterations; it++) q = orthonormal(multiply(covariance, q));
    // Rayleigh–Ritz: the eigenvectors of Qᵀ C Q, rotated back, are the principal directions.
    const cq = multiply(covariance, q);
    const small = q.transpose().mmul(cq);
    const evd = new EigenvalueDecomposition(small.add(small.transpose()).mul(0.5), {
      assumeSymmetric: true,
    });
    const order = evd.realEigenvalues
      .map((value, index) => ({ value, index }))
      .sort((a, b) => b.value - a.value)
      .slice(0, dim);
    const vectors = q.mmul(evd.eigenvectorMatrix);
    const components = new Float32Array(channels * dim);
    order.forEach(({ index }, j) => {
      let largest = 0;
      for (let r = 0; r < channels; r++)
        if (Math.abs(vectors.get(r, index)) > Math.abs(largest)) largest = vectors.get(r, index);
      const sign = largest < 0 ? -1 : 1;
      for (let r = 0; r < channels; r++) components[r * dim + j] = sign * vectors.get(r, index);
    });
    return { channels, dim, mean, components };
  } finally {
    covariance.dispose();
  }
}

function multiply(covariance: tf.Tensor2D, q: Matrix): Matrix {
  const product = tf.tidy(() =>
    tf.matMul(covariance, tf.tensor2d(Float32Array.from(q.to1DArray()), [q.rows, q.columns])),
  );
  const values = product.dataSync();
  product.dispose();
  return Matrix.from1DArray(q.rows, q.columns, Array.from(values));
}

function orthonormal(m: Matrix): Matrix {
  return new QrDecomposition(m).orthogonalMatrix.subMatrix(0, m.rows - 1, 0, m.columns - 1);
}

/**
 * Collects cells of feature maps for fitting a basis: up to `perMap` random cells of each map,
 * at most `capacity` cells in all (preallocated: 10,000 cells of 1792 channels are 72 MB).
 */
export class CellSampler {
  private readonly cells: Float32Array;
  private rows = 0;
  private channels = 0;

  constructor(
    private readonly capacity: number,
    private readonly perMap: number,
    private readonly random: () => number,
    channels: number,
  ) {
    this.channels = channels;
    this.cells = new Float32Array(capacity * channels);
  }

  /** Adds cells of a [1, h, w, channels] map; returns false once full. */
  add(map: tf.Tensor4D): boolean {
    return this.addValues(map.dataSync() as Float32Array, map.shape);
  }

  /** add() for a map's values read back from the backend (the same cells, the same draws). */
  addValues(values: Float32Array, shape: readonly [number, number, number, number]): boolean {
    const [, h, w, channels] = shape;
    if (channels !== this.channels)
      throw new Error(`CellSampler: map has ${channels} channels, expected ${this.channels}`);
    const total = h * w;
    const picks = new Set<number>();
    while (picks.size < Math.min(this.perMap, total)) picks.add(Math.floor(this.random() * total));
    for (const cell of [...picks].sort((a, b) => a - b)) {
      if (this.rows >= this.capacity) return false;
      this.cells.set(values.subarray(cell * channels, (cell + 1) * channels), this.rows * channels);
      this.rows++;
    }
    return this.rows < this.capacity;
  }

  get count(): number {
    return this.rows;
  }

  /** The cells collected so far, [count, channels] row-major. */
  collected(): Float32Array {
    return this.cells.subarray(0, this.rows * this.channels);
  }
}
