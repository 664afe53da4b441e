import { softmax } from './classifier.js';

function negativeLogLikelihood(
  logits: Float32Array[],
  truth: number[],
  temperature: number,
): number {
  let nll = 0;
  logits.forEach((l, i) => {
    const p = softmax(l, temperature)[truth[i] as number] as number;
    nll -= Math.log(Math.max(p, 1e-12));
  });
  return nll / Math.max(1, logits.length);
}

/** Temperature scaling: the T minimising the NLL of out-of-fold logits (log grid, then golden-section refinement). */
export function fitTemperature(logits: Float32Array[], truth: number[]): number {
  if (logits.length === 0) return 1;
  let best = 1;
  let bestNll = Infinity;
  for (let e = -3; e <= 3; e += 0.1) {
    const t = Math.exp(e);
    const nll = negativeLogLikelihood(logits, truth, t);
    if (nll < bestNll) [best, bestNll] = [t, nll];
  }
  let lo = Math.log(best) - 0.1;
  let hi = Math.log(best) + 0.1;
  for (let i = 0; i < 30; i++) {
    const m1 = lo + (hi - lo) / 3;
    const m2 = hi - (hi - lo) / 3;
    if (
      negativeLogLikelihood(logits, truth, Math.exp(m1)) <
      negativeLogLikelihood(logits, truth, Math.exp(m2))
    )
      hi = m2;
    else lo = m1;
  }
  return Math.exp((lo + hi) / 2);
}

/**
 * Lowest top-1 probability threshold whose accepted predictions reach `targetPrecision` on
 * held-out data (keeping at least `minCoverage` of the samples); below it the verdict is "uncertain".
 */
export function chooseIdentifiedThreshold(
  probabilities: Float32Array[],
  truth: number[],
  targetPrecision = 0.8,
  minCoverage = 0.05,
): { threshold: number; precision: number; coverage: number } {
  const scored = probabilities
    .map((p, i) => {
      let best = 0;
      for (let c = 1; c < p.length; c++) if ((p[c] as number) > (p[best] as number)) best = c;
      return { confidence: p[best] as number, correct: best === truth[i] };
    })
    .sort((a, b) => b.confidence - a.confidence);
  const n = scored.length;
  let correct = 0;
  let chosen = { threshold: 1, precision: 0, coverage: 0 };
  let bestPrecision = { threshold: 1, precision: 0, coverage: 0 };
  scored.forEach((s, i) => {
    if (s.correct) correct++;
    const accepted = i + 1;
    const next = scored[i + 1];
    if (next && next.confidence === s.confidence) return;
    const candidate = {
      threshold: s.confidence,
      precision: correct / accepted,
      coverage: accepted / n,
    };
    if (candidate.coverage >= minCoverage && candidate.precision >= targetPrecision)
      chosen = candidate;
    if (candidate.coverage >= minCoverage && candidate.precision > bestPrecision.precision)
      bestPrecision = candidate;
  });
  return chosen.coverage > 0 ? chosen : bestPrecision;
}

/** Out-of-distribution threshold: the score below which only `falseRejectRate` of real footprints fall. */
export function chooseNotFootprintThreshold(
  positiveScores: number[],
  falseRejectRate = 0.05,
): number {
  if (positiveScores.length === 0) return -1;
  const sorted = [...positiveScores].sort((a, b) => a - b);
  const index = Math.max(0, Math.floor(falseRejectRate * sorted.length) - 1);
  return sorted[index] as number;
}

export function rate(scores: number[], predicate: (s: number) => boolean): number {
  return scores.length ? scores.filter(predicate).length / scores.length : 0;
}
