/**
 * The automatic promotion rule: a paired test of the candidate against the active model on the
 * same benchmark photos (pure: the trainer scores both models, this module decides).
 *
 * Test: McNemar's exact test with the mid-p correction, on the per-photo top-1 correctness.
 * Only discordant photos carry evidence: `candidateOnly` (the candidate right, the active model
 * wrong) and `activeOnly` (the reverse). Under "both models are as good", each discordant photo
 * is a fair coin: candidateOnly ~ Binomial(candidateOnly + activeOnly, 1/2). The mid-p version
 * (half the probability of the observed count) keeps the exact test's validity in practice
 * while losing less power on small counts (Fagerland, Lydersen & Laake, BMC Med Res Methodol
 * 2013).
 *
 * Rule (one-sided tests at ALPHA):
 * - no active model: the candidate is promoted (first model);
 * - the active model cannot be loaded: it serves no one, the candidate is promoted;
 * - the candidate is significantly worse on any domain with photos in the benchmark (crop,
 *   field…): refused, whatever the overall figure (a gain on field photos must not be bought
 *   with a measured loss on crops);
 * - the candidate is significantly better overall: promoted;
 * - otherwise (significantly worse overall, or a tie within noise, including an empty
 *   benchmark): refused. A tie keeps the active model: swapping what users get for no measured
 *   gain buys nothing; an admin can still promote by hand.
 */
import { binomialDistribution } from 'simple-statistics';

/** One-sided significance level of both directions of the test. */
export const PROMOTION_ALPHA = 0.05;

/** One benchmark photo as both models answered it (top-1 right or wrong). */
export interface PairedOutcome {
  domain: string;
  candidateCorrect: boolean;
  activeCorrect: boolean;
}

export interface PairedTest {
  /** Benchmark photos scored by both models. */
  n: number;
  candidateTop1: number;
  activeTop1: number;
  /** Discordant photos: the candidate right and the active model wrong… */
  candidateOnly: number;
  /** …and the reverse. */
  activeOnly: number;
  /** One-sided McNemar mid-p of "the candidate is better" (small = evidence it is better). */
  pBetter: number;
  /** One-sided McNemar mid-p of "the candidate is worse" (small = evidence it is worse). */
  pWorse: number;
}

/** P(X < k) + P(X = k) / 2 for X ~ Binomial(n, 1/2). */
function lowerMidP(k: number, n: number): number {
  if (n === 0) return 0.5;
  // simple-statistics stops its table once the cells add up to 1 − 1e-4: cells past the end
  // are below that and count as 0 (the tail sums here start at 0, where the table is exact).
  const cells = binomialDistribution(n, 0.5) ?? [];
  let below = 0;
  for (let x = 0; x < Math.min(k, cells.length); x++) below += cells[x] as number;
  return Math.min(1, below + (cells[k] ?? 0) / 2);
}

export function pairedTest(outcomes: PairedOutcome[]): PairedTest {
  const n = outcomes.length;
  let candidateRight = 0;
  let activeRight = 0;
  let candidateOnly = 0;
  let activeOnly = 0;
  for (const o of outcomes) {
    if (o.candidateCorrect) candidateRight++;
    if (o.activeCorrect) activeRight++;
    if (o.candidateCorrect && !o.activeCorrect) candidateOnly++;
    if (o.activeCorrect && !o.candidateCorrect) activeOnly++;
  }
  const discordant = candidateOnly + activeOnly;
  return {
    n,
    candidateTop1: n ? candidateRight / n : 0,
    activeTop1: n ? activeRight / n : 0,
    candidateOnly,
    activeOnly,
    // "Better" is significant when few discordant photos go the active model's way: by symmetry
    // of Binomial(d, 1/2), P(candidateOnly ≥ k) = P(activeOnly ≤ d − k).
    pBetter: lowerMidP(activeOnly, discordant),
    pWorse: lowerMidP(candidateOnly, discordant),
  };
}

export type PromotionRule =
  | 'first-model'
  | 'active-unloadable'
  | 'better'
  | 'worse-on-domain'
  | 'worse'
  | 'tie'
  /** Set when the run completes: another model became active while this one was compared. */
  | 'active-changed';

export interface PromotionDecision {
  promote: boolean;
  rule: PromotionRule;
  /** Shown as is on the run and the training page. */
  reasonFr: string;
  alpha: number;
  /** The active model the candidate was compared with (null: there was none). */
  comparedWith: string | null;
  /** The active model was trained before the frozen benchmark existed (it may have seen it). */
  activeSawBenchmark?: boolean;
  /** The whole benchmark (null when there was nothing to compare with). */
  test: PairedTest | null;
  byDomain: Record<string, PairedTest>;
}

/** What the trainer knows about the active model when it decides. */
export type ActiveComparison =
  | { kind: 'none' }
  | { kind: 'unloadable'; version: string; errorFr: string }
  | {
      kind: 'scored';
      version: string;
      outcomes: PairedOutcome[];
      /** Trained without the frozen benchmark held out (before it existed). */
      sawBenchmark: boolean;
    };

const ALPHA_FR = String(PROMOTION_ALPHA).replace('.', ',');
const percent = (r: number): string => `${(r * 100).toFixed(1).replace('.', ',')} %`;

export function formatP(p: number): string {
  return p < 0.001 ? '< 0,001' : `= ${p.toFixed(3).replace('.', ',')}`;
}

export function decidePromotion(active: ActiveComparison): PromotionDecision {
  const base = { alpha: PROMOTION_ALPHA, byDomain: {}, test: null };
  if (active.kind === 'none')
    return {
      ...base,
      promote: true,
      rule: 'first-model',
      comparedWith: null,
      reasonFr: 'Premier modèle : aucun modèle actif à comparer, promu d’office.',
    };
  if (active.kind === 'unloadable')
    return {
      ...base,
      promote: true,
      rule: 'active-unloadable',
      comparedWith: active.version,
      reasonFr: `Le modèle actif « ${active.version} » ne peut pas être chargé (${active.errorFr}) : il ne sert plus aucune identification, le candidat le remplace.`,
    };

  const test = pairedTest(active.outcomes);
  const domains = [...new Set(active.outcomes.map((o) => o.domain))].sort();
  const byDomain = Object.fromEntries(
    domains.map((d) => [d, pairedTest(active.outcomes.filter((o) => o.domain === d))]),
  );
  const versus = (t: PairedTest): string =>
    `top-1 ${percent(t.candidateTop1)} contre ${percent(t.activeTop1)} sur ${t.n} photo${t.n > 1 ? 's' : ''} (${t.candidateOnly} gagnée${t.candidateOnly > 1 ? 's' : ''}, ${t.activeOnly} perdue${t.activeOnly > 1 ? 's' : ''})`;
  const caveat = active.sawBenchmark
    ? ' Le modèle actif date d’avant le banc d’essai figé : il a pu voir ces photos à l’entraînement, la comparaison le favorise.'
    : '';
  const decided = (promote: boolean, rule: PromotionRule, reasonFr: string): PromotionDecision => ({
    promote,
    rule,
    reasonFr: reasonFr + caveat,
    alpha: PROMOTION_ALPHA,
    comparedWith: active.version,
    activeSawBenchmark: active.sawBenchmark,
    test,
    byDomain,
  });

  const worseDomain = domains.find((d) => (byDomain[d] as PairedTest).pWorse < PROMOTION_ALPHA);
  if (worseDomain !== undefined && domains.length > 1) {
    const t = byDomain[worseDomain] as PairedTest;
    return decided(
      false,
      'worse-on-domain',
      `Moins bon que le modèle actif au-delà du bruit sur le domaine « ${worseDomain} » : ${versus(t)}, p ${formatP(t.pWorse)} < ${ALPHA_FR}.`,
    );
  }
  if (test.pBetter < PROMOTION_ALPHA)
    return decided(
      true,
      'better',
      `Meilleur que le modèle actif au-delà du bruit : ${versus(test)}, p ${formatP(test.pBetter)} < ${ALPHA_FR}.`,
    );
  if (test.pWorse < PROMOTION_ALPHA)
    return decided(
      false,
      'worse',
      `Moins bon que le modèle actif au-delà du bruit : ${versus(test)}, p ${formatP(test.pWorse)} < ${ALPHA_FR}.`,
    );
  return decided(
    false,
    'tie',
    test.n
      ? `Égalité dans le bruit : ${versus(test)}, p ${formatP(test.pBetter)} ≥ ${ALPHA_FR} ; le modèle actif est conservé (promotion manuelle possible).`
      : 'Aucune photo dans le banc d’essai : comparaison impossible, le modèle actif est conservé (promotion manuelle possible).',
  );
}
