/**
 * The dialogue with a simulated hiker (hiker-simulator.ts) on held-out photos: what the
 * evaluation reports, and what training fits the dialogue's parameters on (the exponent of
 * several photos, the "identified" threshold on the fused posterior, the conformal quantiles).
 */
import {
  NEVER_IDENTIFIED,
  assessObservation,
  conformalQuantile,
  conformalScore,
  informativeAnswerCount,
  normaliseLogits,
  fusedPhotoLogits,
  type Answers,
  type ConformalScore,
  type DialogueParameters,
  type DomainDialogueParameters,
  type ObservationResult,
  type PhotoEvidence,
  type Species,
} from '@wildlens/shared';
import {
  IDENTIFIED_PRECISION_TARGET,
  MIN_DOMAIN_SAMPLES,
  wilsonLowerBound,
} from './calibration.js';
import {
  HARSH_HIKER,
  NOMINAL_HIKER,
  SimulatedHiker,
  type HikerNoiseProfile,
} from './hiker-simulator.js';
import { createRandom } from './random.js';

/** One held-out photo as the API would store it: calibrated probabilities and domains. */
export interface DialoguePhoto {
  /** Calibrated probabilities, in `labels` order. */
  probabilities: ArrayLike<number>;
  truth: number;
  /** The true domain: figures are reported by it. */
  domain: string;
  /** The domain the model predicted: the API knows only this one. */
  predictedDomain?: string;
  notFootprint?: boolean;
  /** Photos of one group show one trail (crops of one source photo). */
  group?: string;
}

/** The state of one observation after some questions. */
export interface DialogueStep {
  /** Questions asked so far (an « unknown » answer counts). */
  asked: number;
  /** Answers that changed the posterior. */
  informative: number;
  result: ObservationResult;
  truthId: string;
}

export interface SimulationOptions {
  profile: HikerNoiseProfile;
  random: () => number;
  /** Questions asked at most (default 3). */
  maxAnswers?: number;
  /** The hiker says where they are (default true). */
  withPlace?: boolean;
  /** Stop asking once the verdict is not "uncertain", as the app does (default true). */
  stopWhenDecided?: boolean;
}

function evidenceOf(photo: DialoguePhoto, labels: string[]): PhotoEvidence {
  return {
    probabilities: Object.fromEntries(labels.map((l, i) => [l, photo.probabilities[i] as number])),
    ...(photo.predictedDomain ? { domain: photo.predictedDomain } : {}),
    ...(photo.notFootprint ? { notFootprint: true } : {}),
  };
}

/**
 * One observation (its photos show one print of the first photo's species) answered by a
 * simulated hiker: the result after 0, 1, … maxAnswers questions chosen by nextQuestion.
 */
export function simulateDialogue(
  photos: DialoguePhoto[],
  labels: string[],
  species: Species[],
  parameters: DialogueParameters | null,
  options: SimulationOptions,
): DialogueStep[] {
  const truthId = labels[(photos[0] as DialoguePhoto).truth] as string;
  const truth = species.find((s) => s.id === truthId);
  if (!truth) throw new Error(`species ${truthId} is not in the catalogue`);
  const hiker = new SimulatedHiker(truth, options.profile, options.random);
  const evidence = photos.map((p) => evidenceOf(p, labels));
  const answers: Answers = {};
  const steps: DialogueStep[] = [];
  const maxAnswers = options.maxAnswers ?? 3;
  let asked = 0;
  for (let k = 0; k <= maxAnswers; k++) {
    const previous = steps.at(-1);
    const frozen =
      previous &&
      (previous.result.nextQuestion === null ||
        ((options.stopWhenDecided ?? true) && previous.result.verdict !== 'uncertain'));
    if (previous && frozen) {
      steps.push(previous);
      continue;
    }
    if (previous?.result.nextQuestion) {
      const id = previous.result.nextQuestion.id;
      answers[id] = hiker.answer(id);
      asked++;
    }
    const result = assessObservation({
      photos: evidence,
      answers,
      location: (options.withPlace ?? true) ? hiker.place : null,
      parameters,
      species,
    });
    steps.push({ asked, informative: informativeAnswerCount(answers), result, truthId });
  }
  return steps;
}

/** Figures of the observations after k questions. */
export interface DialogueFigures {
  n: number;
  top1: number;
  top3: number;
  identifiedCoverage: number;
  identifiedPrecision: number;
  /** Share of observations whose candidate set holds the true species. */
  setCoverage: number;
  meanSetSize: number;
}

/** figures[k] for k = 0 … (trajectories' length − 1). */
export function dialogueFigures(trajectories: DialogueStep[][]): DialogueFigures[] {
  const steps = trajectories[0]?.length ?? 0;
  return Array.from({ length: steps }, (_, k) => {
    let top1 = 0;
    let top3 = 0;
    let identified = 0;
    let identifiedRight = 0;
    let covered = 0;
    let size = 0;
    for (const t of trajectories) {
      const { result, truthId } = t[k] as DialogueStep;
      const rank = result.top.findIndex((x) => x.speciesId === truthId);
      if (rank === 0) top1++;
      if (rank >= 0 && rank < 3) top3++;
      if (result.verdict === 'identified') {
        identified++;
        if (rank === 0) identifiedRight++;
      }
      if (result.candidates.speciesIds.includes(truthId)) covered++;
      size += result.candidates.speciesIds.length;
    }
    const n = trajectories.length;
    return {
      n,
      top1: n ? top1 / n : 0,
      top3: n ? top3 / n : 0,
      identifiedCoverage: n ? identified / n : 0,
      identifiedPrecision: identified ? identifiedRight / identified : 0,
      setCoverage: n ? covered / n : 0,
      meanSetSize: n ? size / n : 0,
    };
  });
}

/** Pairs of photos of one trail: two photos of one group (crops of one source photo). */
export function photoPairs(photos: DialoguePhoto[]): [number, number][] {
  const byGroup = new Map<string, number[]>();
  photos.forEach((p, i) => {
    if (p.group === undefined) return;
    byGroup.set(p.group, [...(byGroup.get(p.group) ?? []), i]);
  });
  const pairs: [number, number][] = [];
  for (const members of byGroup.values())
    for (let a = 0; a < members.length; a++)
      for (let b = a + 1; b < members.length; b++)
        pairs.push([members[a] as number, members[b] as number]);
  return pairs;
}

/** The correlations tried for several photos of one trail. */
const CORRELATION_GRID = Array.from({ length: 21 }, (_, i) => i / 20);

/**
 * The correlation ρ of photos of one trail (DialogueParameters.photoCorrelation) minimising
 * the negative log-likelihood of the true species under the tempered product of each pair;
 * 1 (one photo's worth: never over-confident) without pairs.
 */
export function fitPhotoCorrelation(photos: DialoguePhoto[]): {
  correlation: number;
  pairs: number;
} {
  const pairs = photoPairs(photos);
  if (!pairs.length) return { correlation: 1, pairs: 0 };
  let best = { correlation: 1, nll: Infinity };
  for (const correlation of CORRELATION_GRID) {
    let nll = 0;
    for (const [a, b] of pairs) {
      const pa = photos[a] as DialoguePhoto;
      const fused = normaliseLogits(
        fusedPhotoLogits(
          [pa.probabilities, (photos[b] as DialoguePhoto).probabilities],
          correlation,
        ),
      );
      nll -= Math.log(Math.max(fused[pa.truth] as number, 1e-12));
    }
    if (nll < best.nll) best = { correlation, nll };
  }
  return { correlation: best.correlation, pairs: pairs.length };
}

/** Below this many "identified" answers, a threshold's precision is not judged yet. */
const MIN_IDENTIFIED_JUDGED = 15;

/** One photo's steps, for the threshold: its true domain, and each step's top-1 and whether it is right. */
export interface ThresholdTrajectory {
  domain: string;
  steps: { confidence: number; correct: boolean }[];
}

/**
 * The lowest threshold on the fused top-1 probability at which the app's "identified" answers
 * are right at least IDENTIFIED_PRECISION_TARGET of the time with 90 % one-sided confidence
 * (Wilson lower bound), in every true domain with MIN_DOMAIN_SAMPLES photos (field photos the
 * domain head took for crops must not ride on the crops' precision; all photos together when
 * every domain is smaller), NEVER_IDENTIFIED if none. Each observation is judged as the app
 * would answer it: at the first step whose confidence reaches the threshold (it then stops
 * asking). Thresholds are tried from the top down and the search stops at the first one that
 * fails once enough answers are judged: a lower threshold that passes again after a failure is
 * luck on these photos (measured: such picks lost precision on the next folds).
 */
export function chooseDialogueThreshold(trajectories: ThresholdTrajectory[]): number {
  const counts = new Map<string, number>();
  for (const t of trajectories) counts.set(t.domain, (counts.get(t.domain) ?? 0) + 1);
  const judged = [...counts].filter(([, n]) => n >= MIN_DOMAIN_SAMPLES).map(([d]) => d);
  const domainOf = (t: ThresholdTrajectory): string | undefined =>
    judged.length ? (judged.includes(t.domain) ? t.domain : undefined) : '*';
  const candidates = [
    ...new Set(trajectories.flatMap((t) => t.steps.map((s) => s.confidence))),
  ].sort((a, b) => b - a);
  let threshold = NEVER_IDENTIFIED;
  for (const t of candidates) {
    const tally = new Map<string, { n: number; right: number }>();
    for (const trajectory of trajectories) {
      const domain = domainOf(trajectory);
      const first = trajectory.steps.find((s) => s.confidence >= t);
      if (domain === undefined || !first) continue;
      const own = tally.get(domain) ?? { n: 0, right: 0 };
      tally.set(domain, own);
      own.n++;
      if (first.correct) own.right++;
    }
    const precise = [...tally.values()].map(
      (c) => wilsonLowerBound(c.right, c.n) >= IDENTIFIED_PRECISION_TARGET,
    );
    if (precise.every(Boolean)) threshold = t;
    else if ([...tally.values()].some((c, i) => !precise[i] && c.n >= MIN_IDENTIFIED_JUDGED)) break;
  }
  return threshold;
}

export interface DialogueFitOptions {
  coverage?: number;
  score?: ConformalScore;
  seed?: number;
  /** Answers the threshold is calibrated on (default the harsh hiker). */
  thresholdProfile?: HikerNoiseProfile;
  /** Answers the conformal quantiles are calibrated on (default the nominal hiker). */
  conformalProfiles?: HikerNoiseProfile[];
  maxAnswers?: number;
}

export const DIALOGUE_COVERAGE = 0.9;
/** Measured on the project's photos (README): smaller sets at the same coverage. */
export const DEFAULT_CONFORMAL_SCORE: ConformalScore = 'lac';

/** A quantile kept as JSON: the largest score any set needs (every species) instead of Infinity. */
function storable(q: number): number {
  return Number.isFinite(q) ? q : 1;
}

/**
 * Fits the dialogue's parameters on held-out (out-of-fold) photos with simulated answers:
 * the photos' correlation on pairs of one trail, then per predicted domain (and for all
 * photos: `default`) the identified threshold (threshold profile, without stopping), then the
 * conformal quantiles per number of informative answers (conformal profiles, with the fitted
 * thresholds stopping the questions as the app does).
 */
export function fitDialogueParameters(
  photos: DialoguePhoto[],
  labels: string[],
  species: Species[],
  options: DialogueFitOptions = {},
): DialogueParameters {
  const coverage = options.coverage ?? DIALOGUE_COVERAGE;
  const score = options.score ?? DEFAULT_CONFORMAL_SCORE;
  const seed = options.seed ?? 1;
  const maxAnswers = options.maxAnswers ?? 3;
  const { correlation, pairs } = fitPhotoCorrelation(photos);
  const domainOf = (p: DialoguePhoto) => p.predictedDomain ?? 'default';
  const domains = [...new Set(photos.map(domainOf))].sort();
  const neverQuantiles = Array.from({ length: maxAnswers + 1 }, () => 1);
  const provisional = (identified: Record<string, number>): DialogueParameters => ({
    version: 1,
    coverage,
    score,
    photoCorrelation: correlation,
    byDomain: Object.fromEntries(
      domains.map((d) => [
        d,
        { identified: identified[d] ?? NEVER_IDENTIFIED, conformalQuantiles: neverQuantiles },
      ]),
    ),
    default: { identified: NEVER_IDENTIFIED, conformalQuantiles: neverQuantiles },
  });

  // 1. Thresholds: every step of every photo, answered by the threshold profile.
  const thresholdProfile = options.thresholdProfile ?? HARSH_HIKER;
  const random = createRandom(seed * 7919 + 17);
  const trajectories: ThresholdTrajectory[] = photos.map((p) => ({
    domain: p.domain,
    steps: simulateDialogue([p], labels, species, provisional({}), {
      profile: thresholdProfile,
      random,
      maxAnswers,
      stopWhenDecided: false,
    }).map((s) => ({
      confidence: s.result.top[0]?.probability ?? 0,
      correct: s.result.top[0]?.speciesId === s.truthId,
    })),
  }));
  const thresholdOf = (members: number[]) =>
    members.length >= MIN_DOMAIN_SAMPLES
      ? chooseDialogueThreshold(members.map((i) => trajectories[i] as ThresholdTrajectory))
      : NEVER_IDENTIFIED;
  const indicesOf = (d: string) => photos.flatMap((p, i) => (domainOf(p) === d ? [i] : []));
  const identified: Record<string, number> = Object.fromEntries(
    domains.map((d) => [d, thresholdOf(indicesOf(d))]),
  );
  const identifiedDefault = thresholdOf(photos.map((_, i) => i));

  // 2. Conformal quantiles, the app's questions stopping at the fitted thresholds.
  const profiles = options.conformalProfiles ?? [NOMINAL_HIKER];
  const scores = new Map<string, number[][]>();
  const addScore = (d: string, informative: number, value: number) => {
    const byCount = scores.get(d) ?? Array.from({ length: maxAnswers + 1 }, () => []);
    scores.set(d, byCount);
    (byCount[Math.min(informative, maxAnswers)] as number[]).push(value);
  };
  const withThresholds = provisional(identified);
  for (const profile of profiles) {
    const conformalRandom = createRandom(seed * 104729 + profile.name.length);
    for (const p of photos) {
      const steps = simulateDialogue([p], labels, species, withThresholds, {
        profile,
        random: conformalRandom,
        maxAnswers,
      });
      // One score per distinct state (a stopped dialogue repeats its last state).
      const seen = new Set<number>();
      for (const s of steps) {
        if (seen.has(s.informative)) continue;
        seen.add(s.informative);
        const probabilities = labels.map(
          (l) => s.result.top.find((t) => t.speciesId === l)?.probability ?? 0,
        );
        const value = conformalScore(score, probabilities, p.truth);
        addScore(domainOf(p), s.informative, value);
        addScore('*', s.informative, value);
      }
    }
  }
  const quantilesOf = (d: string): number[] => {
    const byCount = scores.get(d) ?? [];
    // A count with too few scores borrows the previous count's quantile (fewer answers: wider).
    const out: number[] = [];
    for (let k = 0; k <= maxAnswers; k++) {
      const own = byCount[k] ?? [];
      out.push(
        own.length >= MIN_DOMAIN_SAMPLES
          ? storable(conformalQuantile(own, coverage))
          : (out[k - 1] ?? 1),
      );
    }
    return out;
  };
  const byDomain: Record<string, DomainDialogueParameters> = Object.fromEntries(
    domains.map((d) => [
      d,
      { identified: identified[d] as number, conformalQuantiles: quantilesOf(d) },
    ]),
  );
  // `default` serves observations whose photos' domains differ: the strictest of every fit, so a
  // field photo never borrows the crops' easier threshold or narrower sets.
  const strictest = [
    { identified: identifiedDefault, conformalQuantiles: quantilesOf('*') },
    ...Object.values(byDomain),
  ];
  return {
    version: 1,
    coverage,
    score,
    photoCorrelation: correlation,
    byDomain,
    default: {
      identified: Math.max(...strictest.map((p) => p.identified)),
      conformalQuantiles: quantilesOf('*').map((_, k) =>
        Math.max(...strictest.map((p) => p.conformalQuantiles[k] as number)),
      ),
    },
    fitted: {
      photos: photos.length,
      pairs,
      thresholdProfile: thresholdProfile.name,
      conformalProfiles: profiles.map((p) => p.name),
      maxAnswers,
      seed,
      photosByDomain: Object.fromEntries(domains.map((d) => [d, indicesOf(d).length])),
    },
  };
}
