/**
 * The frozen benchmark: the training images every model is judged on and none is trained on.
 *
 * Membership is decided per image group (the source photo recorded at upload, else the image
 * itself: its content hash) by a salted SHA-256 of the group key, so it depends on nothing else:
 * adding photos, deleting others, relabelling one or changing the upload order never moves a
 * photo between training and benchmark, and all images of a group fall on the same side (crops
 * of one source photo cannot leak from training into the benchmark). Relabelling keeps a photo
 * where it was because the label is not part of the key.
 *
 * Fraction 15 %: the benchmark has to rank two models with a paired test, where only the photos
 * the two models disagree on count, so its power grows with the benchmark's size; every photo
 * it takes is a photo no model learns from, and with about a hundred photos per species the
 * training set is what limits accuracy today. 15 % of the 1,320 development photos is about 200
 * photos (~45 crops, ~155 field photos): a paired difference of 5–6 top-1 points is then
 * detectable when the models disagree on a fifth of the photos, while the training set keeps
 * 85 %. The split is not stratified per species (a hash cannot be): a species with very few
 * groups may by chance have none, or all, in the benchmark; the latter is not learnt until it
 * gets photos outside it.
 */
import { createHash } from 'node:crypto';
import {
  evaluateByDomain,
  loadFootprintModel,
  verdictFiguresByDomain,
  type EvaluationReport,
  type VerdictFigures,
  type FootprintModel,
  type Prediction,
  type ScoredSample,
  type VerdictReport,
} from '@wildlens/model';
import { COLLECTIONS, mapLimit, storagePrefixReader } from '@wildlens/shared';
import type { Firestore } from 'firebase-admin/firestore';
import {
  decidePromotion,
  type ActiveComparison,
  type PairedOutcome,
  type PromotionDecision,
} from './promotion.js';
import { modelStoragePrefix, readActiveModel } from './registry.js';
import type { Retry, TrainerBucket } from './resilience.js';

/** Where the benchmark's photos and the active model are read, under the trainer's retry policy. */
export interface BenchmarkStore {
  db: Firestore;
  bucket: TrainerBucket;
  retry: Retry;
}

/**
 * The benchmark's definition. `id` is recorded on every model trained without it
 * (`models/{version}.benchmark.id`): changing the salt or the fraction makes a new benchmark,
 * and older models then count as having possibly seen its photos.
 */
export const BENCHMARK = {
  id: 'sha256-groupe-15',
  salt: 'wildlens-benchmark-v1',
  fraction: 0.15,
} as const;

/** Where a group falls in [0, 1): the first 32 bits of SHA-256(salt, group key). */
export function benchmarkPosition(groupKey: string): number {
  const digest = createHash('sha256').update(`${BENCHMARK.salt}\u0000${groupKey}`).digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}

export function isBenchmarkGroup(groupKey: string): boolean {
  return benchmarkPosition(groupKey) < BENCHMARK.fraction;
}

/** Splits images (whose `group` is their group key: the recorded group, else their id). */
export function splitBenchmark<T extends { group: string }>(
  images: T[],
): { training: T[]; benchmark: T[] } {
  const training: T[] = [];
  const benchmark: T[] = [];
  for (const image of images) (isBenchmarkGroup(image.group) ? benchmark : training).push(image);
  return { training, benchmark };
}

export interface BenchmarkPhoto {
  id: string;
  speciesId: string;
  domain: string;
}

/** A model's answer to one benchmark photo, as a user would get it. */
export interface BenchmarkAnswer {
  verdict: Prediction['verdict'];
  top1: string;
  probabilities: Record<string, number>;
}

export type Predictor = Pick<FootprintModel, 'predict'>;

/**
 * Every model answers every photo through the real inference path (`predict` on the photo's
 * bytes). Each photo is read once and shared by the models, then dropped: memory stays flat
 * whatever the benchmark's size. Returns the photos scored and answers[model][photo]: a photo
 * `read` finds erased (undefined) is left out.
 */
export async function scoreBenchmark<T extends BenchmarkPhoto>(
  photos: T[],
  read: (photo: T) => Promise<Buffer | undefined>,
  models: Predictor[],
  onScored?: () => void,
): Promise<{ photos: T[]; answers: BenchmarkAnswer[][] }> {
  const answers: BenchmarkAnswer[][] = models.map(() => new Array<BenchmarkAnswer>(photos.length));
  const scored = new Array<boolean>(photos.length).fill(false);
  // A few photos in flight: downloads overlap inference (itself synchronous on one thread).
  await mapLimit(photos, 4, async (photo, i) => {
    const bytes = await read(photo);
    if (!bytes) return;
    scored[i] = true;
    for (const [m, model] of models.entries()) {
      const p = await model.predict(bytes);
      (answers[m] as BenchmarkAnswer[])[i] = {
        verdict: p.verdict,
        top1: p.top[0]?.speciesId ?? '',
        probabilities: p.probabilities,
      };
    }
    onScored?.();
  });
  return {
    photos: photos.filter((_, i) => scored[i]),
    answers: answers.map((list) => list.filter((_, i) => scored[i])),
  };
}

/** Labels of a comparison: every species of the photos and of any answer, sorted. */
export function benchmarkLabels(photos: BenchmarkPhoto[], answers: BenchmarkAnswer[][]): string[] {
  const labels = new Set(photos.map((p) => p.speciesId));
  for (const list of answers)
    for (const a of list) for (const l of Object.keys(a.probabilities)) labels.add(l);
  return [...labels].sort();
}

/** The figures of one model's answers, for the whole benchmark and per domain. */
export function benchmarkReport(
  photos: BenchmarkPhoto[],
  answers: BenchmarkAnswer[],
  labels: string[],
): VerdictReport & { byDomain: Record<string, VerdictReport> } {
  const samples: ScoredSample[] = photos.map((photo, i) => {
    const answer = answers[i] as BenchmarkAnswer;
    return {
      // A species the model does not know gets probability 0.
      probabilities: Float32Array.from(labels, (l) => answer.probabilities[l] ?? 0),
      truth: labels.indexOf(photo.speciesId),
      verdict: answer.verdict,
      domain: photo.domain,
    };
  });
  return evaluateByDomain(samples, labels);
}

/** Per-photo top-1 correctness of two models on the same photos (the paired test's input). */
export function pairedOutcomes(
  photos: BenchmarkPhoto[],
  candidate: BenchmarkAnswer[],
  active: BenchmarkAnswer[],
): PairedOutcome[] {
  return photos.map((photo, i) => ({
    domain: photo.domain,
    candidateCorrect: candidate[i]?.top1 === photo.speciesId,
    activeCorrect: active[i]?.top1 === photo.speciesId,
  }));
}

/** What the training page shows for a set of photos. */
export type Figures = VerdictFigures;

/** Firestore cannot hold nested arrays: the confusion matrix becomes one row per true label. */
export function confusionForFirestore(report: EvaluationReport): {
  labels: string[];
  rows: Record<string, number[]>;
} {
  return {
    labels: report.labels,
    rows: Object.fromEntries(report.labels.map((l, i) => [l, report.confusion[i] ?? []])),
  };
}

export type ActiveModelForBenchmark =
  | { kind: 'none' }
  | { kind: 'unloadable'; version: string; errorFr: string }
  | { kind: 'loaded'; version: string; model: FootprintModel; sawBenchmark: boolean };

/**
 * The active model (config/activeModel), loaded from Storage as the functions load it. A model
 * trained before this benchmark (no `benchmark.id` on its registry document, or another id)
 * may have been trained on the benchmark photos: `sawBenchmark`.
 */
export async function openActiveModel({
  db,
  bucket,
  retry,
}: BenchmarkStore): Promise<ActiveModelForBenchmark> {
  const pointer = await retry('firestore.read_active_model', () => readActiveModel(db));
  if (!pointer?.version) return { kind: 'none' };
  const { version } = pointer;
  const registered = await retry('firestore.read_model', () =>
    db.collection(COLLECTIONS.models).doc(version).get(),
  );
  try {
    const model = await loadFootprintModel(
      storagePrefixReader(bucket, pointer.storagePrefix || modelStoragePrefix(version)),
    );
    const sawBenchmark = registered.get('benchmark.id') !== BENCHMARK.id;
    return { kind: 'loaded', version, model, sawBenchmark };
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return { kind: 'unloadable', version, errorFr: `erreur de chargement : ${detail}` };
  }
}

export interface BenchmarkJudgement {
  candidate: { figures: Figures & { byDomain: Record<string, Figures> }; report: VerdictReport };
  /** The active model's figures on the same photos (null: none, or it could not be loaded). */
  active: {
    version: string;
    sawBenchmark: boolean;
    figures: Figures & { byDomain: Record<string, Figures> };
  } | null;
  decision: PromotionDecision;
}

/**
 * Scores the candidate and the active model on the benchmark photos (each read once by `read`,
 * answered by both through `predict`) and applies the promotion rule. A photo erased since the
 * run started (`read` answers undefined) is left out of both models' figures.
 */
export async function judgeOnBenchmark<T extends BenchmarkPhoto>(
  store: BenchmarkStore,
  benchmark: T[],
  candidate: Predictor,
  onScored: (() => void) | undefined,
  read: (photo: T) => Promise<Buffer | undefined>,
): Promise<BenchmarkJudgement> {
  const opened = await openActiveModel(store);
  const activeModel = opened.kind === 'loaded' ? opened.model : undefined;
  let answers: BenchmarkAnswer[][];
  let photos: T[];
  try {
    ({ photos, answers } = await scoreBenchmark(
      benchmark,
      read,
      activeModel ? [candidate, activeModel] : [candidate],
      onScored,
    ));
  } finally {
    activeModel?.dispose();
  }
  const [candidateAnswers, activeAnswers] = answers as [BenchmarkAnswer[], BenchmarkAnswer[]?];
  const labels = benchmarkLabels(photos, answers);
  const candidateReport = benchmarkReport(photos, candidateAnswers, labels);
  const scored = opened.kind === 'loaded' && activeAnswers ? { ...opened, activeAnswers } : null;
  const comparison: ActiveComparison = scored
    ? {
        kind: 'scored',
        version: scored.version,
        sawBenchmark: scored.sawBenchmark,
        outcomes: pairedOutcomes(photos, candidateAnswers, scored.activeAnswers),
      }
    : opened.kind === 'unloadable'
      ? opened
      : { kind: 'none' };
  return {
    candidate: { figures: verdictFiguresByDomain(candidateReport), report: candidateReport },
    active: scored && {
      version: scored.version,
      sawBenchmark: scored.sawBenchmark,
      figures: verdictFiguresByDomain(benchmarkReport(photos, scored.activeAnswers, labels)),
    },
    decision: decidePromotion(comparison),
  };
}
