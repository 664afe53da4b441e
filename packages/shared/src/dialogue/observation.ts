/**
 * The one function the API calls: an observation's stored evidence (each photo's calibrated
 * probabilities and predicted domain, the answers, the place) and the model's fitted dialogue
 * parameters → the result shown to the hiker. Pure and fast (no model pass): it runs on every
 * refinement, in the functions, a browser or a phone.
 */
import type { RegionId, Species, TrackTraits } from '../species.js';
import { predictionSet, type ConformalScore } from './conformal.js';
import {
  NEVER_IDENTIFIED,
  UNCALIBRATED_CANDIDATE_MASS,
  verdictOf,
  type DialogueParameters,
  type DomainDialogueParameters,
  type Verdict,
} from './parameters.js';
import { fusedPhotoLogits, informativeAnswerCount, nextQuestion, posterior } from './posterior.js';
import type { Answers, Question } from './questions.js';
import { rangePrior, regionOf, unexpectedAt, type GeoPoint } from './regions.js';

/** What the model said about one photo (as stored with the observation). */
export interface PhotoEvidence {
  /** Calibrated probabilities by species id (the model's `probabilities`). */
  probabilities: Record<string, number>;
  /** The photo's predicted domain ('crop' for a framed print, 'field'…), when the model has one. */
  domain?: string;
  /** The model's gate found no footprint in it. */
  notFootprint?: boolean;
}

export interface ObservationInput {
  /** At least one photo. */
  photos: PhotoEvidence[];
  answers?: Answers;
  location?: GeoPoint | null;
  /** The model manifest's `dialogue` (absent for models trained before it: safe defaults). */
  parameters?: DialogueParameters | null;
  /** The species catalogue (traits and ranges). */
  species: Species[];
}

export interface ObservationResult {
  /** Every species of the model, most probable first. */
  top: { speciesId: string; probability: number }[];
  verdict: Verdict;
  /**
   * The smallest set of species holding the true one with probability `coverage` (held-out
   * photos); `coverage` is null when the model has no fitted dialogue parameters.
   */
  candidates: { speciesIds: string[]; coverage: number | null };
  /** The most useful question still to ask, or null (identified, or nothing worth asking). */
  nextQuestion: Question | null;
  /** Species among the candidates and the top 3 that do not live in the wild at the place. */
  unexpectedSpecies: string[];
  region: RegionId | null;
  /** The domain whose parameters applied ('default' when photos disagree or none is known). */
  domain: string;
  /** The top-1 probability from which that domain is called identified (≥ 1: never). */
  identifiedThreshold: number;
}

/** The photos' common domain, or 'default' (several kinds of photos, or no domain head). */
export function observationDomain(photos: PhotoEvidence[]): string {
  const domains = new Set(photos.map((p) => p.domain ?? 'default'));
  return domains.size === 1 ? ([...domains][0] as string) : 'default';
}

function domainParameters(
  parameters: DialogueParameters,
  domain: string,
): DomainDialogueParameters {
  return parameters.byDomain[domain] ?? parameters.default;
}

export function assessObservation(input: ObservationInput): ObservationResult {
  const { photos, species } = input;
  const answers = input.answers ?? {};
  const first = photos[0];
  if (!first) throw new Error('assessObservation: no photo');
  const labels = Object.keys(first.probabilities);
  // Photos the gate refused count only when every photo was refused.
  const footprints = photos.filter((p) => !p.notFootprint);
  const counted = footprints.length ? footprints : photos;
  const domain = observationDomain(counted);
  const parameters = input.parameters ?? null;
  const own = parameters ? domainParameters(parameters, domain) : null;

  const bySpecies = new Map(species.map((s) => [s.id, s]));
  const known = labels.map((l) => bySpecies.get(l));
  const traits: (TrackTraits | null)[] = known.map((s) => s?.track ?? null);
  const region = input.location ? regionOf(input.location) : null;
  const prior = labels.map((_, i) => {
    const s = known[i];
    return s ? (rangePrior([s], region)[0] as number) : 1;
  });
  const photoLogits = fusedPhotoLogits(
    counted.map((p) => labels.map((l) => p.probabilities[l] ?? 0)),
    parameters?.photoCorrelation ?? 1,
  );
  const priorLogits = photoLogits.map((l, i) => l + Math.log(prior[i] as number));
  const probabilities = posterior(priorLogits, answers, traits);

  const top = labels
    .map((speciesId, i) => ({ speciesId, probability: probabilities[i] as number }))
    .sort((a, b) => b.probability - a.probability);
  const identifiedThreshold = own?.identified ?? NEVER_IDENTIFIED;
  const verdict = verdictOf(top[0]?.probability ?? 0, footprints.length === 0, identifiedThreshold);
  const candidates = candidateSet(probabilities, answers, parameters, own).map(
    (i) => labels[i] as string,
  );
  const next =
    verdict === 'uncertain' ? (nextQuestion(priorLogits, answers, traits)?.question ?? null) : null;
  const shown = [...new Set([...candidates, ...top.slice(0, 3).map((t) => t.speciesId)])];
  return {
    top,
    verdict,
    candidates: { speciesIds: candidates, coverage: parameters?.coverage ?? null },
    nextQuestion: next,
    unexpectedSpecies: unexpectedAt(
      shown,
      known.filter((s): s is Species => s !== undefined),
      region,
    ),
    region,
    domain,
    identifiedThreshold,
  };
}

function candidateSet(
  probabilities: number[],
  answers: Answers,
  parameters: DialogueParameters | null,
  own: DomainDialogueParameters | null,
): number[] {
  if (!parameters || !own) return predictionSet('aps', probabilities, UNCALIBRATED_CANDIDATE_MASS);
  const quantiles = own.conformalQuantiles;
  const q = quantiles[Math.min(informativeAnswerCount(answers), quantiles.length - 1)] ?? Infinity;
  return predictionSet(parameters.score as ConformalScore, probabilities, q);
}
