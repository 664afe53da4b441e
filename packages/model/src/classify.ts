/**
 * Embedding → calibrated probabilities and verdict (plain JS, browser-safe): the one rule the
 * server (FootprintModel) and the on-device runtime (packages/offline-runtime) both apply.
 */
import { verdictOf, type Verdict } from '@wildlens/shared';
import { headLogits, maxCentroidSimilarity, softmax } from './head-math.js';
import type { FootprintModelData } from './model-manifest.js';

export type { Verdict };

export interface Prediction {
  verdict: Verdict;
  /** All labels, most probable first (callers show the first 3). */
  top: { speciesId: string; probability: number }[];
  probabilities: Record<string, number>;
  /** Max cosine similarity of the embedding to the class centroids (higher = more footprint-like). */
  oodScore: number;
  /** The kind of photo the model recognised ('crop', 'field'…), when it tells domains apart. */
  domain?: string;
  timingsMs: { preprocess: number; inference: number };
}

/** What classifying needs of a model: its manifest's labels and calibration, and its heads. */
export type ClassifierData = Pick<
  FootprintModelData,
  'manifest' | 'head' | 'centroids' | 'domainHead'
>;

/**
 * Turns an embedding into calibrated probabilities and a verdict, in the photo's predicted
 * domain, or in `domain` when the caller knows it (a framed print is a crop).
 */
export function classifyEmbedding(
  model: ClassifierData,
  embedding: Float32Array,
  domain?: string,
): Omit<Prediction, 'timingsMs'> {
  const { labels } = model.manifest;
  const calibration = calibrationOf(model, embedding, domain);
  const { temperature, thresholds } = calibration;
  const probabilities = softmax(headLogits(model.head, embedding), temperature);
  const top = labels
    .map((speciesId, i) => ({ speciesId, probability: probabilities[i] as number }))
    .sort((a, b) => b.probability - a.probability);
  const oodScore = maxCentroidSimilarity(model.centroids, embedding);
  const verdict = verdictOf(
    top[0]?.probability ?? 0,
    oodScore < thresholds.notFootprint,
    thresholds.identified,
  );
  return {
    verdict,
    top,
    probabilities: Object.fromEntries(top.map((t) => [t.speciesId, t.probability])),
    oodScore,
    ...(calibration.domain ? { domain: calibration.domain } : {}),
  };
}

/**
 * The temperature and thresholds for this photo: its domain's (given, else predicted by the
 * domain head), when the model has them.
 */
function calibrationOf(
  model: ClassifierData,
  embedding: Float32Array,
  given?: string,
): {
  domain?: string;
  temperature: number;
  thresholds: { identified: number; notFootprint: number };
} {
  const { temperature, thresholds, domainCalibration } = model.manifest;
  const domainHead = model.domainHead;
  if (!domainCalibration || !domainHead)
    return { ...(given ? { domain: given } : {}), temperature, thresholds };
  let domain = given;
  if (!domain) {
    const scores = headLogits(domainHead, embedding);
    let best = 0;
    for (let i = 1; i < scores.length; i++)
      if ((scores[i] as number) > (scores[best] as number)) best = i;
    domain = domainCalibration.domains[best] as string;
  }
  const own = domainCalibration.byDomain[domain];
  return own
    ? {
        domain,
        temperature: own.temperature,
        thresholds: { identified: own.identified, notFootprint: own.notFootprint },
      }
    : { domain, temperature, thresholds };
}
