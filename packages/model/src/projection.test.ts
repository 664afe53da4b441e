import * as tf from '@tensorflow/tfjs-core';
import { EigenvalueDecomposition, Matrix, QrDecomposition } from 'ml-matrix';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { CellSampler, bilinearLength, bilinearPool, fitProjectionBasis } from './projection.js';
import { createRandom } from './random.js';

beforeAll(async () => {
  await initBackend();
});

/** n cells of `channels` values with a planted, decreasing variance spectrum and a mean offset. */
function plantedCells(n: number, channels: number, seed: number): Float32Array {
  const random = createRandom(seed);
  const gauss = () => {
    const u = Math.max(random(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
  const out = new Float32Array(n * channels);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < channels; c++) out[i * channels + c] = 3 + gauss() * (channels - c) * 0.1;
  // Rotate by a fixed random orthogonal matrix so the directions are not the axes.
  const q = new Matrix(channels, channels);
  for (let r = 0; r < channels; r++) for (let c = 0; c < channels; c++) q.set(r, c, random() - 0.5);
  const { orthogonalMatrix } = new QrDecomposition(q);
  const rotated = new Matrix(
    Array.from({ length: n }, (_, i) => Array.from(out.subarray(i * channels, (i + 1) * channels))),
  ).mmul(orthogonalMatrix);
  return Float32Array.from(rotated.to1DArray());
}

describe('PCA basis for bilinear pooling', () => {
  it('finds the same principal subspace as a full eigen-decomposition', () => {
    const channels = 40;
    const dim = 6;
    const cells = plantedCells(2000, channels, 3);
    const basis = fitProjectionBasis(cells, channels, dim, 1);
    // Reference: full EVD of the covariance.
    const x = new Matrix(
      Array.from({ length: 2000 }, (_, i) =>
        Array.from(cells.subarray(i * channels, (i + 1) * channels)),
      ),
    );
    const mean = x.mean('column');
    const centred = x.clone().subRowVector(mean);
    const cov = centred.transpose().mmul(centred).div(2000);
    const evd = new EigenvalueDecomposition(cov, { assumeSymmetric: true });
    const order = evd.realEigenvalues.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]);
    for (let c = 0; c < channels; c++) expect(basis.mean[c]).toBeCloseTo(mean[c] as number, 4);
    for (let j = 0; j < dim; j++) {
      const ref = evd.eigenvectorMatrix.getColumn(order[j]![1]);
      let dot = 0;
      for (let r = 0; r < channels; r++)
        dot += (basis.components[r * dim + j] as number) * (ref[r] as number);
      expect(Math.abs(dot)).toBeGreaterThan(0.999);
    }
    // Deterministic, sign convention included.
    expect(fitProjectionBasis(cells, channels, dim, 1).components).toEqual(basis.components);
  });

  it('pools a map into a unit vector of the upper triangle, equal to the formula', () => {
    const channels = 12;
    const dim = 4;
    const basis = fitProjectionBasis(plantedCells(500, channels, 5), channels, dim, 2);
    const random = createRandom(9);
    const values = Float32Array.from({ length: 3 * 5 * channels }, () => random() * 6);
    const map = tf.tensor4d(values, [1, 3, 5, channels]);
    const pooled = bilinearPool(map, basis);
    expect(pooled).toHaveLength(bilinearLength(dim));
    expect(Math.hypot(...pooled)).toBeCloseTo(1, 5);
    // Reference in plain arithmetic.
    const z = Array.from({ length: 15 }, (_, cell) =>
      Array.from({ length: dim }, (_, j) => {
        let s = 0;
        for (let c = 0; c < channels; c++)
          s +=
            ((values[cell * channels + c] as number) - (basis.mean[c] as number)) *
            (basis.components[c * dim + j] as number);
        return s;
      }),
    );
    const expected: number[] = [];
    for (let i = 0; i < dim; i++)
      for (let j = i; j < dim; j++) {
        const m = z.reduce((a, row) => a + (row[i] as number) * (row[j] as number), 0) / 15;
        expected.push(Math.sign(m) * Math.sqrt(Math.abs(m)));
      }
    const norm = Math.hypot(...expected);
    expected.forEach((v, i) => expect(pooled[i]).toBeCloseTo(v / norm, 4));
    map.dispose();
  });

  it('samples cells up to its capacity', () => {
    const sampler = new CellSampler(10, 4, createRandom(1), 3);
    const map = tf.tensor4d(
      Float32Array.from({ length: 2 * 3 * 3 }, (_, i) => i),
      [1, 2, 3, 3],
    );
    expect(sampler.add(map)).toBe(true);
    expect(sampler.count).toBe(4);
    expect(sampler.add(map)).toBe(true);
    expect(sampler.add(map)).toBe(false);
    expect(sampler.count).toBe(10);
    // Every sampled row is one of the map's cells.
    const rows = sampler.collected();
    for (let r = 0; r < 10; r++) expect((rows[r * 3] as number) % 3).toBe(0);
    map.dispose();
  });
});
