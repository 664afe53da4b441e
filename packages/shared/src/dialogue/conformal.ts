/**
 * Split conformal prediction sets: the smallest set of species holding the true one with a
 * stated probability, calibrated on held-out photos (Vovk et al. 2005; Angelopoulos & Bates,
 * "A gentle introduction to conformal prediction", 2021).
 *
 * Two scores are implemented and were compared on the project's photos (packages/model/README.md):
 * - `lac` (least ambiguous set-valued classifier, Sadinle et al. 2019): score 1 − p(true); the
 *   set holds every species with p ≥ 1 − q. Smallest sets on average.
 * - `aps` (adaptive prediction sets, Romano et al. 2020, not randomised): score = mass of the
 *   species ranked above the true one plus its own; the set is the shortest prefix of the
 *   ranking whose mass reaches q. Larger sets where the posterior is flat.
 * A set is never empty: it holds at least the most probable species.
 */

export type ConformalScore = 'lac' | 'aps';

/** Species indices sorted by decreasing probability (ties: lower index first). */
export function ranking(probabilities: ArrayLike<number>): number[] {
  return Array.from({ length: probabilities.length }, (_, i) => i).sort(
    (a, b) => (probabilities[b] as number) - (probabilities[a] as number) || a - b,
  );
}

/** Nonconformity score of the true species: higher = the posterior disagrees more. */
export function conformalScore(
  score: ConformalScore,
  probabilities: ArrayLike<number>,
  truth: number,
): number {
  const p = probabilities[truth] as number;
  if (score === 'lac') return 1 - p;
  let mass = 0;
  for (let i = 0; i < probabilities.length; i++) {
    const q = probabilities[i] as number;
    if (q > p || (q === p && i < truth)) mass += q;
  }
  return mass + p;
}

/**
 * The calibrated quantile: the ⌈(n+1)·coverage⌉-th smallest score, so that a new exchangeable
 * photo's score is below it with probability ≥ coverage. With too few scores for that rank,
 * +Infinity (the set is then every species).
 */
export function conformalQuantile(scores: number[], coverage: number): number {
  const sorted = [...scores].sort((a, b) => a - b);
  const rank = Math.ceil((sorted.length + 1) * coverage);
  return rank > sorted.length ? Infinity : (sorted[rank - 1] as number);
}

/** The prediction set (species indices, most probable first) at quantile `q`. */
export function predictionSet(
  score: ConformalScore,
  probabilities: ArrayLike<number>,
  q: number,
): number[] {
  const order = ranking(probabilities);
  const set: number[] = [];
  let mass = 0;
  for (const i of order) {
    const p = probabilities[i] as number;
    const inSet = score === 'lac' ? 1 - p <= q : mass < q;
    if (!inSet && set.length > 0) break;
    set.push(i);
    mass += p;
  }
  return set;
}
