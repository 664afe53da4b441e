/**
 * The posterior over species: the photos' calibrated probabilities (a tempered product), times
 * the answers' likelihood (likelihood.ts), times the place's range prior (regions.ts),
 * normalised; and the question whose answer is expected to lower its entropy most.
 */
import type { TrackTraits } from '../species.js';
import { FEET, FUSION_ERROR_MODEL, footLikelihood, outcomesOf, type Foot } from './likelihood.js';
import {
  QUESTIONS,
  QUESTION_IDS,
  isUnknownAnswer,
  type Answers,
  type Question,
  type QuestionId,
} from './questions.js';

/** Probabilities below this count as this (a photo never rules a species out on its own). */
export const PROBABILITY_FLOOR = 1e-6;

/** The exponent of the tempered product of n photos' probabilities (see DialogueParameters). */
export function photoExponent(photoCount: number, correlation: number): number {
  return 1 / (1 + correlation * Math.max(0, photoCount - 1));
}

/**
 * log of the photos' fused evidence per species: Σ log p × exponent. `photos[i][s]` is photo
 * i's probability of species s.
 */
export function fusedPhotoLogits(photos: ArrayLike<number>[], correlation: number): number[] {
  const k = photos[0]?.length ?? 0;
  const exponent = photoExponent(photos.length, correlation);
  const out = new Array<number>(k).fill(0);
  for (const p of photos)
    for (let s = 0; s < k; s++)
      out[s]! += exponent * Math.log(Math.max(p[s] as number, PROBABILITY_FLOOR));
  return out;
}

/** Normalises log-weights into probabilities. */
export function normaliseLogits(logits: number[]): number[] {
  const max = Math.max(...logits);
  const w = logits.map((l) => Math.exp(l - max));
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / total);
}

export function entropy(p: ArrayLike<number>): number {
  let h = 0;
  for (let i = 0; i < p.length; i++) {
    const v = p[i] as number;
    if (v > 0) h -= v * Math.log(v);
  }
  return h;
}

/** Per species (null: traits unknown, answers say nothing) and foot: the answers' likelihood. */
function footLikelihoods(
  answers: Answers,
  traits: (TrackTraits | null)[],
): { byFoot: number[][]; total: number[] } {
  const byFoot = traits.map((t) =>
    FEET.map((foot) =>
      t ? FUSION_ERROR_MODEL.footWeights[foot] * footLikelihood(answers, t, foot) : 1 / FEET.length,
    ),
  );
  return { byFoot, total: byFoot.map((f) => f.reduce((a, b) => a + b, 0)) };
}

/**
 * The posterior: prior logits (fused photos + log range prior) plus log P(answers | species).
 */
export function posterior(
  priorLogits: number[],
  answers: Answers,
  traits: (TrackTraits | null)[],
): number[] {
  const { total } = footLikelihoods(answers, traits);
  return normaliseLogits(priorLogits.map((l, s) => l + Math.log(total[s] as number)));
}

/** Answers that change the posterior (not `unknown`). */
export function informativeAnswerCount(answers: Answers): number {
  return Object.values(answers).filter((v) => !isUnknownAnswer(v)).length;
}

/**
 * The questions that may still be asked: not answered yet (an `unknown` answer counts as
 * answered: the hiker was asked), and the width only once the length is a number (it is judged
 * by their ratio).
 */
export function askableQuestions(answers: Answers): QuestionId[] {
  return QUESTION_IDS.filter(
    (id) => answers[id] === undefined && (id !== 'width' || typeof answers.length === 'number'),
  );
}

/** Below this expected entropy reduction (nats), a question is not worth the hiker's time. */
export const MIN_QUESTION_GAIN = 0.02;

export interface QuestionChoice {
  question: Question;
  /** Expected entropy of the posterior after the answer, and the reduction from now (nats). */
  expectedEntropy: number;
  gain: number;
}

/**
 * The askable question minimising the posterior's expected entropy after its answer (the
 * expectation over the predictive distribution of the answer, numbers by bins), or null when
 * none is expected to reduce it by MIN_QUESTION_GAIN.
 */
export function nextQuestion(
  priorLogits: number[],
  answers: Answers,
  traits: (TrackTraits | null)[],
): QuestionChoice | null {
  const { byFoot, total } = footLikelihoods(answers, traits);
  const current = normaliseLogits(priorLogits.map((l, s) => l + Math.log(total[s] as number)));
  const now = entropy(current);
  // P(foot | species, answers so far): the next answer is about the same print.
  const footPosterior = byFoot.map((f, s) => f.map((v) => v / (total[s] as number)));
  let best: QuestionChoice | null = null;
  for (const id of askableQuestions(answers)) {
    let expected = 0;
    const outcomes = outcomesOf(id, answers);
    for (const outcome of outcomes) {
      const joint = current.map((p, s) => {
        const t = traits[s];
        if (!t) return p / outcomes.length;
        let likelihood = 0;
        FEET.forEach((foot: Foot, f) => {
          likelihood += (footPosterior[s]?.[f] as number) * outcome.probability(t, foot);
        });
        return p * likelihood;
      });
      const mass = joint.reduce((a, b) => a + b, 0);
      if (mass <= 0) continue;
      expected += mass * entropy(joint.map((v) => v / mass));
    }
    if (!best || expected < best.expectedEntropy)
      best = { question: QUESTIONS[id], expectedEntropy: expected, gain: now - expected };
  }
  return best && best.gain >= MIN_QUESTION_GAIN ? best : null;
}
