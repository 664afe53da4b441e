/**
 * The fusion's likelihood model: how probable a hiker's answer is, given the species that made
 * the print. It is an explicit error model, written from what trackers report (not fitted on
 * data), and deliberately tolerant: a wrong answer lowers a species but never rules it out.
 *
 * The hiker simulator that evaluates the dialogue (packages/model/src/hiker-simulator.ts) has
 * its own, separate noise model: the evaluation does not grade this model with itself.
 */
import type { ClawMarks, FootPrint, TrackTraits } from '../species.js';
import {
  MAX_PRINT_CM,
  MIN_PRINT_CM,
  QUESTIONS,
  isUnknownAnswer,
  type AnswerValue,
  type Answers,
  type QuestionId,
} from './questions.js';

export type Foot = 'front' | 'hind';
export const FEET: readonly Foot[] = ['front', 'hind'];

/**
 * Every constant of the error model, in one place:
 * - the photographed print is a front or a hind foot, unknown: answers about one print are
 *   explained by a mixture over the two feet (toes, length and width then stay consistent:
 *   a squirrel's 4-toed print is also its small one);
 * - toes: a small fifth toe (thumb, inner toe) often fails to print or is missed; a smudge or
 *   a dewclaw is sometimes counted as a fifth;
 * - claws: they print with a species-dependent frequency (catalogue `claws`), are seen when
 *   they printed most of the time, and are imagined (a stone, a toe tip) now and then;
 * - pad shape: the X / C / neither reading is hard for a beginner;
 * - size: the true size is anywhere in the catalogue's range for that foot; the measure is off
 *   by a log-normal error of `size.logSd` (a third off ≈ 1.3 sd) after soft ground enlarged it
 *   a little (`softGroundLogBias`); width given with length is judged by their ratio, which a
 *   scale error (a wrong ruler reading of both) leaves intact;
 * - floor: each answer has probability `floor` of being unrelated to the species (a slip, a
 *   misread question): the answer's likelihood is never below that share of a uniform answer.
 */
export const FUSION_ERROR_MODEL = {
  footWeights: { front: 0.5, hind: 0.5 } as Record<Foot, number>,
  toes: { reportFourWhenFive: 0.25, reportFiveWhenFour: 0.1 },
  claws: {
    printed: { usually: 0.85, sometimes: 0.5, rarely: 0.12 } as Record<ClawMarks, number>,
    seenWhenPrinted: 0.85,
    seenWhenNot: 0.12,
  },
  padShape: { right: 0.65 },
  size: { logSd: 0.22, softGroundLogBias: Math.log(1.05) },
  ratio: { logSd: 0.2 },
  floor: { toes: 0.05, claws: 0.05, padShape: 0.1, length: 0.1, width: 0.1 } as Record<
    QuestionId,
    number
  >,
} as const;

const LOG_MIN = Math.log(MIN_PRINT_CM);
const LOG_MAX = Math.log(MAX_PRINT_CM);
/** Width / length ratios a print can show (a hare's hind foot ~0.3, a puma's front ~1.3). */
const LOG_RATIO_MIN = Math.log(0.2);
const LOG_RATIO_MAX = Math.log(2.5);

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 via erf, |error| < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly =
    t *
    (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

function normalPdf(z: number): number {
  return Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
}

/** ∫ Φ: the antiderivative used for the mass of a uniform-convolved-normal over an interval. */
function integratedCdf(z: number): number {
  return z * normalCdf(z) + normalPdf(z);
}

/**
 * A true value uniform on [a, b] (log scale) observed with normal noise (mean `bias`, sd `sd`):
 * its density at x, and its mass on [x1, x2].
 */
class BlurredUniform {
  constructor(
    private readonly a: number,
    private readonly b: number,
    private readonly bias: number,
    private readonly sd: number,
  ) {}

  density(x: number): number {
    const { a, b, bias, sd } = this;
    return (normalCdf((x - bias - a) / sd) - normalCdf((x - bias - b) / sd)) / (b - a);
  }

  mass(x1: number, x2: number): number {
    const { a, b, bias, sd } = this;
    const g = (x: number, edge: number) => integratedCdf((x - bias - edge) / sd);
    return ((g(x2, a) - g(x1, a) - g(x2, b) + g(x1, b)) * sd) / (b - a);
  }
}

function sizeModel(range: [number, number]): BlurredUniform {
  const { logSd, softGroundLogBias } = FUSION_ERROR_MODEL.size;
  return new BlurredUniform(Math.log(range[0]), Math.log(range[1]), softGroundLogBias, logSd);
}

/** The foot's width/length ratio: its range from the catalogue's ranges' middles, ±15 %. */
function ratioModel(foot: FootPrint): BlurredUniform {
  const mid = (r: [number, number]) => Math.sqrt(r[0] * r[1]);
  const centre = Math.log(mid(foot.widthCm) / mid(foot.lengthCm));
  return new BlurredUniform(
    centre - Math.log(1.15),
    centre + Math.log(1.15),
    0,
    FUSION_ERROR_MODEL.ratio.logSd,
  );
}

function floored(question: QuestionId, p: number, uniform: number): number {
  const floor = FUSION_ERROR_MODEL.floor[question];
  return (1 - floor) * p + floor * uniform;
}

function toesProbability(foot: FootPrint, reported: number): number {
  const { reportFourWhenFive, reportFiveWhenFour } = FUSION_ERROR_MODEL.toes;
  let p = 0;
  for (const toes of foot.toes) {
    const fourShown = toes === 5 ? reportFourWhenFive : 1 - reportFiveWhenFour;
    p += (reported === 4 ? fourShown : 1 - fourShown) / foot.toes.length;
  }
  return p;
}

function clawsYesProbability(traits: TrackTraits): number {
  const { printed, seenWhenPrinted, seenWhenNot } = FUSION_ERROR_MODEL.claws;
  const p = printed[traits.claws];
  return p * seenWhenPrinted + (1 - p) * seenWhenNot;
}

const CHOICE_COUNT: Partial<Record<QuestionId, number>> = { toes: 2, claws: 2, padShape: 3 };

/** P(choice answer | species, foot), floored; 1 for `unknown` (it says nothing). */
export function choiceLikelihood(
  question: QuestionId,
  value: AnswerValue,
  traits: TrackTraits,
  foot: Foot,
): number {
  if (isUnknownAnswer(value)) return 1;
  const uniform = 1 / (CHOICE_COUNT[question] ?? 2);
  let p: number;
  if (question === 'toes') p = toesProbability(traits[foot], Number(value));
  else if (question === 'claws') {
    const yes = clawsYesProbability(traits);
    p = value === 'yes' ? yes : 1 - yes;
  } else if (question === 'padShape') {
    const { right } = FUSION_ERROR_MODEL.padShape;
    p = value === traits.padShape ? right : (1 - right) / 2;
  } else throw new Error(`${question} is not a choice question`);
  return floored(question, p, uniform);
}

const SIZE_UNIFORM = 1 / (LOG_MAX - LOG_MIN);
const RATIO_UNIFORM = 1 / (LOG_RATIO_MAX - LOG_RATIO_MIN);

function measured(value: AnswerValue | undefined): number | undefined {
  return typeof value === 'number' && !isUnknownAnswer(value) ? value : undefined;
}

/**
 * Density (log scale) of the size answers given the foot: length alone, width alone, or the
 * length and then the width/length ratio (the two measures of one print are not independent).
 */
function sizeLikelihood(answers: Answers, foot: FootPrint): number {
  const length = measured(answers.length);
  const width = measured(answers.width);
  let p = 1;
  if (length !== undefined)
    p *= floored('length', sizeModel(foot.lengthCm).density(Math.log(length)), SIZE_UNIFORM);
  if (width !== undefined)
    p *=
      length !== undefined
        ? floored('width', ratioModel(foot).density(Math.log(width / length)), RATIO_UNIFORM)
        : floored('width', sizeModel(foot.widthCm).density(Math.log(width)), SIZE_UNIFORM);
  return p;
}

/** Likelihood of every answer given the species and the foot (choices × sizes). */
export function footLikelihood(answers: Answers, traits: TrackTraits, foot: Foot): number {
  let p = sizeLikelihood(answers, traits[foot]);
  for (const id of ['toes', 'claws', 'padShape'] as const) {
    const value = answers[id];
    if (value !== undefined) p *= choiceLikelihood(id, value, traits, foot);
  }
  return p;
}

/** P(answers | species): the mixture over the photographed print's foot. */
export function answersLikelihood(answers: Answers, traits: TrackTraits): number {
  return FEET.reduce(
    (sum, foot) =>
      sum + FUSION_ERROR_MODEL.footWeights[foot] * footLikelihood(answers, traits, foot),
    0,
  );
}

/** One possible answer to a question, for the expected-entropy sum (numbers: a bin of values). */
export interface Outcome {
  /** The answer it stands for (a bin's geometric middle for numbers). */
  value: AnswerValue;
  /** P(this outcome | species, foot) (given the length already known, for the width). */
  probability(traits: TrackTraits, foot: Foot): number;
}

const SIZE_BINS = 20;
const RATIO_BINS = 10;

function logBins(lo: number, hi: number, count: number): [number, number][] {
  return Array.from({ length: count }, (_, i) => [
    lo + ((hi - lo) * i) / count,
    lo + ((hi - lo) * (i + 1)) / count,
  ]);
}

/**
 * The outcomes of a question, for nextQuestion's expectation: the informative options of a
 * choice (`unknown` changes nothing, so it drops out of the expectation), and bins of the log
 * value for a measurement (width asked after the length: bins of the ratio).
 */
export function outcomesOf(question: QuestionId, answers: Answers): Outcome[] {
  const spec = QUESTIONS[question];
  if (spec.kind === 'choice')
    return spec.options
      .filter((o) => !isUnknownAnswer(o.id))
      .map((o) => ({
        value: o.id,
        probability: (traits, foot) => choiceLikelihood(question, o.id, traits, foot),
      }));
  const length = measured(answers.length);
  if (question === 'width' && length !== undefined)
    return logBins(LOG_RATIO_MIN, LOG_RATIO_MAX, RATIO_BINS).map(([x1, x2]) => ({
      value: length * Math.exp((x1 + x2) / 2),
      probability: (traits, foot) =>
        floored('width', ratioModel(traits[foot]).mass(x1, x2), (x2 - x1) * RATIO_UNIFORM),
    }));
  return logBins(LOG_MIN, LOG_MAX, SIZE_BINS).map(([x1, x2]) => ({
    value: Math.exp((x1 + x2) / 2),
    probability: (traits, foot) =>
      floored(
        question,
        sizeModel(question === 'length' ? traits[foot].lengthCm : traits[foot].widthCm).mass(
          x1,
          x2,
        ),
        (x2 - x1) * SIZE_UNIFORM,
      ),
  }));
}
