/**
 * What the dialogue needs from training: plain JSON, stored in the model's manifest
 * (`dialogue`), fitted on out-of-fold photos with simulated answers (packages/model
 * training.ts). A model without them still answers: never "identified", and candidate sets
 * without a stated coverage.
 */
import type { ConformalScore } from './conformal.js';

export type Verdict = 'identified' | 'uncertain' | 'not_a_footprint';

/** An `identified` threshold no probability reaches: "identified" is never said. */
export const NEVER_IDENTIFIED = 1.01;

/** The one verdict rule (model predictions, calibration and the dialogue all use it). */
export function verdictOf(
  confidence: number,
  notFootprint: boolean,
  identifiedThreshold: number,
): Verdict {
  if (notFootprint) return 'not_a_footprint';
  return confidence >= identifiedThreshold ? 'identified' : 'uncertain';
}

/** Parameters of one kind of observation (its predicted domain: 'crop', 'field'…). */
export interface DomainDialogueParameters {
  /** Fused top-1 probability at or above which the verdict is "identified". */
  identified: number;
  /**
   * Conformal quantile by number of answers given (index 0, 1, 2…; the last one also serves
   * for more answers).
   */
  conformalQuantiles: number[];
}

export interface DialogueParameters {
  version: 1;
  /** Coverage the candidate sets are calibrated for (e.g. 0.9: « 9 fois sur 10 »). */
  coverage: number;
  score: ConformalScore;
  /**
   * Correlation of several photos of one trail: n photos are fused as the product of their
   * probabilities raised to 1 / (1 + ρ (n − 1)) (ρ = 0: independent; ρ = 1: one photo's worth).
   */
  photoCorrelation: number;
  /**
   * By predicted domain; `default` serves observations whose photos' domains differ (or without
   * domains): training makes it the strictest of its fits.
   */
  byDomain: Record<string, DomainDialogueParameters>;
  default: DomainDialogueParameters;
  /** How the parameters were fitted (figures, noise profile): informative only. */
  fitted?: Record<string, unknown>;
}

/**
 * Without fitted parameters: never identified, photos fused as one photo's worth, and candidate
 * sets that gather 99 % of the (uncalibrated) probability, with no stated coverage.
 */
export const UNCALIBRATED_CANDIDATE_MASS = 0.99;
