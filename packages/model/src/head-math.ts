/**
 * The head's arithmetic at inference (plain JS, no tfjs), shared by the server and the
 * on-device runtime (packages/offline-runtime).
 */

/** Softmax regression on standardised embeddings: the data set is far too small for more. */
export interface LinearHead {
  featureDim: number;
  numClasses: number;
  /** Standardisation applied before the linear layer (fitted on the training embeddings). */
  mean: Float32Array;
  scale: Float32Array;
  /** Row-major [featureDim, numClasses]. */
  weights: Float32Array;
  bias: Float32Array;
}

/** Logits for one embedding, in plain JS: 13×d multiply-adds are cheaper than a tensor round trip. */
export function headLogits(head: LinearHead, embedding: Float32Array): Float32Array {
  const { featureDim: d, numClasses: k } = head;
  const logits = new Float32Array(head.bias);
  for (let j = 0; j < d; j++) {
    const v = ((embedding[j] as number) - (head.mean[j] as number)) / (head.scale[j] as number);
    if (v === 0) continue;
    const row = j * k;
    for (let c = 0; c < k; c++)
      logits[c] = (logits[c] as number) + v * (head.weights[row + c] as number);
  }
  return logits;
}

export function softmax(logits: Float32Array, temperature = 1): Float32Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v / temperature);
  const out = new Float32Array(logits.length);
  let sum = 0;
  logits.forEach((v, i) => {
    const e = Math.exp(v / temperature - max);
    out[i] = e;
    sum += e;
  });
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / sum;
  return out;
}

export function l2Normalise(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const inv = 1 / (Math.sqrt(s) + 1e-12);
  return v.map((x) => x * inv);
}

/** Highest cosine similarity between an embedding and any class centroid. */
export function maxCentroidSimilarity(centroids: Float32Array, embedding: Float32Array): number {
  const d = embedding.length;
  const e = l2Normalise(embedding);
  const k = centroids.length / d;
  let best = -1;
  for (let c = 0; c < k; c++) {
    let dot = 0;
    for (let j = 0; j < d; j++) dot += (e[j] as number) * (centroids[c * d + j] as number);
    best = Math.max(best, dot);
  }
  return best;
}
