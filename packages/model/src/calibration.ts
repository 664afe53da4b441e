import { NEVER_IDENTIFIED, verdictOf } from '@wildlens/shared';
import { softmax } from './classifier.js';

export { NEVER_IDENTIFIED, verdictOf };

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

/** One held-out (out-of-fold) prediction used to calibrate a model. */
export interface CalibrationSample {
  logits: Float32Array;
  truth: number;
  /** Max cosine similarity to the class centroids (the not_a_footprint score). */
  oodScore: number;
  domain: string;
  /**
   * The domain the model predicted for this photo (its domain head): photos are calibrated
   * within their predicted domain, since the true one is unknown when a hiker sends a photo.
   */
  predictedDomain?: string;
}

/** "identified" only where held-out precision reaches this, in every domain (issue: ≥ 90 % on field photos). */
export const IDENTIFIED_PRECISION_TARGET = 0.9;
/**
 * One-sided confidence of the precision check (z of 90 %): the threshold is the lowest
 * confidence whose held-out precision is at least the target *with this confidence*, not merely
 * on average. Picking the lowest threshold whose observed precision reaches 90 % is optimistic
 * (measured: 79 % on the next fold's field photos); the lower bound also demands enough photos
 * (at least 15 right answers in a row at the top before anything is "identified").
 */
export const IDENTIFIED_PRECISION_Z = 1.2816;

/** Wilson score lower bound of a proportion `right / n` at one-sided normal quantile `z`. */
export function wilsonLowerBound(right: number, n: number, z = IDENTIFIED_PRECISION_Z): number {
  if (n === 0) return 0;
  const p = right / n;
  const z2 = z * z;
  return (p + z2 / (2 * n) - z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
}

/** Real footprints refused as not_a_footprint on held-out photos, per domain (the goal is ≤ 3 %). */
export const NOT_FOOTPRINT_FALSE_REJECT_TARGET = 0.02;
/** Domains with fewer held-out photos are too small to set a threshold on their own. */
export const MIN_DOMAIN_SAMPLES = 20;

/** Temperature and thresholds of one group of photos (all of them, or one predicted domain). */
export interface GroupCalibration {
  temperature: number;
  identified: {
    threshold: number;
    /** Held-out precision and coverage of "identified" at that threshold, overall and per domain. */
    precision: number;
    coverage: number;
    byDomain: Record<string, { n: number; precision: number; coverage: number }>;
  };
  notFootprint: {
    threshold: number;
    falseRejectRate: number;
    byDomain: Record<string, { n: number; falseRejectRate: number }>;
  };
}

export interface Calibration extends GroupCalibration {
  /**
   * One calibration per predicted domain, when the samples carry predicted domains and every
   * group is large enough: a crop and a field photo then mean the same thing at the same
   * confidence. The top-level fields calibrate all photos together (the fallback).
   */
  byPredictedDomain?: Record<string, GroupCalibration & { n: number }>;
}

/** The calibration that applies to a photo of this predicted domain. */
export function calibrationFor(
  calibration: Calibration,
  predictedDomain?: string,
): GroupCalibration {
  return (predictedDomain && calibration.byPredictedDomain?.[predictedDomain]) || calibration;
}

/**
 * Calibrates all samples together and, when they carry predicted domains with at least
 * MIN_DOMAIN_SAMPLES photos each, each predicted domain on its own (see calibrateGroup).
 */
export function calibrate(samples: CalibrationSample[]): Calibration {
  const overall = calibrateGroup(samples);
  const groups = new Map<string, CalibrationSample[]>();
  for (const s of samples)
    if (s.predictedDomain !== undefined)
      groups.set(s.predictedDomain, [...(groups.get(s.predictedDomain) ?? []), s]);
  if (
    groups.size < 2 ||
    groups.size !== new Set(samples.map((s) => s.predictedDomain)).size ||
    [...groups.values()].some((g) => g.length < MIN_DOMAIN_SAMPLES)
  )
    return overall;
  return {
    ...overall,
    byPredictedDomain: Object.fromEntries(
      [...groups].map(([d, g]) => [d, { ...calibrateGroup(g), n: g.length }]),
    ),
  };
}

function domainsWithEnoughSamples(samples: CalibrationSample[]): string[] {
  const counts = new Map<string, number>();
  for (const s of samples) counts.set(s.domain, (counts.get(s.domain) ?? 0) + 1);
  const big = [...counts].filter(([, n]) => n >= MIN_DOMAIN_SAMPLES).map(([d]) => d);
  // Every domain is small: judge them together rather than not at all.
  return big.length ? big.sort() : [...counts.keys()].sort();
}

/**
 * Calibrates a group of held-out predictions, the same way in every (true) domain of the group:
 * - temperature scaling on all samples;
 * - the `identified` threshold is the lowest calibrated top-1 probability t such that, in every
 *   domain with enough photos, the predictions at or above t are right at least
 *   `IDENTIFIED_PRECISION_TARGET` of the time (lower confidence bound, IDENTIFIED_PRECISION_Z) (a pooled set would let confident crops buy
 *   "identified" answers for field photos); NEVER_IDENTIFIED when no threshold reaches it;
 * - the `not_a_footprint` threshold is the lowest per-domain quantile of the real footprints'
 *   scores at NOT_FOOTPRINT_FALSE_REJECT_TARGET, so each domain refuses at most that share.
 */
export function calibrateGroup(samples: CalibrationSample[]): GroupCalibration {
  const temperature = fitTemperature(
    samples.map((s) => s.logits),
    samples.map((s) => s.truth),
  );
  const domains = domainsWithEnoughSamples(samples);
  const judged = new Set(domains);
  const scored = samples
    .map((s) => {
      const p = softmax(s.logits, temperature);
      let best = 0;
      for (let c = 1; c < p.length; c++) if ((p[c] as number) > (p[best] as number)) best = c;
      return { confidence: p[best] as number, correct: best === s.truth, domain: s.domain };
    })
    .sort((a, b) => b.confidence - a.confidence);
  const accepted = new Map<string, { n: number; right: number }>(
    domains.map((d) => [d, { n: 0, right: 0 }]),
  );
  let threshold = NEVER_IDENTIFIED;
  for (let i = 0; i < scored.length;) {
    // Photos tied at this confidence enter together.
    const confidence = (scored[i] as (typeof scored)[number]).confidence;
    for (
      ;
      i < scored.length && (scored[i] as (typeof scored)[number]).confidence === confidence;
      i++
    ) {
      const s = scored[i] as (typeof scored)[number];
      const tally = accepted.get(s.domain);
      if (!tally || !judged.has(s.domain)) continue;
      tally.n++;
      if (s.correct) tally.right++;
    }
    const meets = [...accepted.values()].every(
      (t) => t.n === 0 || wilsonLowerBound(t.right, t.n) >= IDENTIFIED_PRECISION_TARGET,
    );
    if (meets) threshold = confidence;
  }
  const notFootprintThreshold = Math.min(
    ...domains.map((d) =>
      chooseNotFootprintThreshold(
        samples.filter((s) => s.domain === d).map((s) => s.oodScore),
        NOT_FOOTPRINT_FALSE_REJECT_TARGET,
      ),
    ),
  );
  const byDomainIdentified: Calibration['identified']['byDomain'] = {};
  const byDomainRejects: Calibration['notFootprint']['byDomain'] = {};
  const allDomains = [...new Set(samples.map((s) => s.domain))].sort();
  for (const d of allDomains) {
    const inDomain = scored.filter((s) => s.domain === d);
    const given = inDomain.filter((s) => s.confidence >= threshold);
    byDomainIdentified[d] = {
      n: inDomain.length,
      precision: given.length ? given.filter((s) => s.correct).length / given.length : 0,
      coverage: inDomain.length ? given.length / inDomain.length : 0,
    };
    const scores = samples.filter((s) => s.domain === d).map((s) => s.oodScore);
    byDomainRejects[d] = {
      n: scores.length,
      falseRejectRate: rate(scores, (v) => v < notFootprintThreshold),
    };
  }
  const given = scored.filter((s) => s.confidence >= threshold);
  return {
    temperature,
    identified: {
      threshold,
      precision: given.length ? given.filter((s) => s.correct).length / given.length : 0,
      coverage: scored.length ? given.length / scored.length : 0,
      byDomain: byDomainIdentified,
    },
    notFootprint: {
      threshold: notFootprintThreshold,
      falseRejectRate: rate(
        samples.map((s) => s.oodScore),
        (v) => v < notFootprintThreshold,
      ),
      byDomain: byDomainRejects,
    },
  };
}
