import { createRandom, shuffleInPlace } from './random.js';

export interface EvaluationReport {
  n: number;
  top1: number;
  top3: number;
  macroF1: number;
  perSpeciesRecall: Record<string, number>;
  /** confusion[true][predicted] counts, indexed like `labels`. */
  confusion: number[][];
  labels: string[];
  meanConfidence: number;
  ece: number;
}

/** `probabilities[i]` is the distribution over `labels` for sample i with true index `truth[i]`. */
export function evaluatePredictions(
  probabilities: Float32Array[],
  truth: number[],
  labels: string[],
): EvaluationReport {
  const k = labels.length;
  const confusion = labels.map(() => new Array<number>(k).fill(0));
  let top1 = 0;
  let top3 = 0;
  let confidenceSum = 0;
  probabilities.forEach((p, i) => {
    const t = truth[i] as number;
    const order = Array.from(p.keys()).sort((a, b) => (p[b] as number) - (p[a] as number));
    const predicted = order[0] as number;
    (confusion[t] as number[])[predicted]! += 1;
    if (predicted === t) top1++;
    if (order.slice(0, 3).includes(t)) top3++;
    confidenceSum += p[predicted] as number;
  });
  const n = probabilities.length;
  const perSpeciesRecall: Record<string, number> = {};
  let f1Sum = 0;
  let f1Count = 0;
  labels.forEach((label, c) => {
    const row = confusion[c] as number[];
    const support = row.reduce((a, v) => a + v, 0);
    const predictedCount = confusion.reduce((a, r) => a + (r[c] as number), 0);
    const tp = row[c] as number;
    const recall = support ? tp / support : 0;
    const precision = predictedCount ? tp / predictedCount : 0;
    if (support) {
      perSpeciesRecall[label] = recall;
      f1Sum += precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
      f1Count++;
    }
  });
  return {
    n,
    top1: n ? top1 / n : 0,
    top3: n ? top3 / n : 0,
    macroF1: f1Count ? f1Sum / f1Count : 0,
    perSpeciesRecall,
    confusion,
    labels,
    meanConfidence: n ? confidenceSum / n : 0,
    ece: expectedCalibrationError(probabilities, truth),
  };
}

/** Expected calibration error of the top-1 confidence, equal-width bins. */
export function expectedCalibrationError(
  probabilities: Float32Array[],
  truth: number[],
  bins = 10,
): number {
  const count = new Array<number>(bins).fill(0);
  const conf = new Array<number>(bins).fill(0);
  const correct = new Array<number>(bins).fill(0);
  probabilities.forEach((p, i) => {
    let best = 0;
    for (let c = 1; c < p.length; c++) if ((p[c] as number) > (p[best] as number)) best = c;
    const confidence = p[best] as number;
    const bin = Math.min(bins - 1, Math.floor(confidence * bins));
    count[bin]! += 1;
    conf[bin]! += confidence;
    if (best === truth[i]) correct[bin]! += 1;
  });
  const n = probabilities.length;
  let ece = 0;
  for (let b = 0; b < bins; b++) {
    const c = count[b] as number;
    if (c) ece += (c / n) * Math.abs((conf[b] as number) / c - (correct[b] as number) / c);
  }
  return ece;
}

export interface GroupedItem {
  label: string;
  group?: string;
  id: string;
}

function groupKey(item: GroupedItem): string {
  // Groups are per source photo; the same file name in two species is not the same photo.
  return `${item.label}\u0000${item.group ?? item.id}`;
}

/** Item indices per label, then per group (a group's images always travel together). */
function indexByLabelAndGroup(items: GroupedItem[]): Map<string, Map<string, number[]>> {
  const byLabel = new Map<string, Map<string, number[]>>();
  items.forEach((item, i) => {
    const groups = byLabel.get(item.label) ?? new Map<string, number[]>();
    byLabel.set(item.label, groups);
    const key = groupKey(item);
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  return byLabel;
}

/**
 * Grouped stratified K-fold: whole groups are dealt, per label, to the currently smallest fold
 * (largest groups first), so a group never straddles train and validation. Returns fold index per item.
 */
export function groupedStratifiedKFold(items: GroupedItem[], folds: number, seed = 1): number[] {
  const random = createRandom(seed);
  const byLabel = indexByLabelAndGroup(items);
  const assignment = new Array<number>(items.length).fill(0);
  const foldSizes = new Array<number>(folds).fill(0);
  for (const label of [...byLabel.keys()].sort()) {
    const groups = shuffleInPlace(
      [...(byLabel.get(label) as Map<string, number[]>).values()],
      random,
    );
    groups.sort((a, b) => b.length - a.length);
    const labelFoldSizes = new Array<number>(folds).fill(0);
    for (const members of groups) {
      let best = 0;
      for (let f = 1; f < folds; f++) {
        const key = (labelFoldSizes[f] as number) * 1000 + (foldSizes[f] as number);
        const bestKey = (labelFoldSizes[best] as number) * 1000 + (foldSizes[best] as number);
        if (key < bestKey) best = f;
      }
      for (const i of members) assignment[i] = best;
      labelFoldSizes[best]! += members.length;
      foldSizes[best]! += members.length;
    }
  }
  return assignment;
}

/** Grouped stratified holdout: about `fraction` of each label's images, whole groups only. */
export function groupedHoldoutSplit(
  items: GroupedItem[],
  fraction: number,
  seed = 1,
): { train: number[]; holdout: number[] } {
  const random = createRandom(seed);
  const byLabel = indexByLabelAndGroup(items);
  const train: number[] = [];
  const holdout: number[] = [];
  for (const label of [...byLabel.keys()].sort()) {
    const groups = shuffleInPlace(
      [...(byLabel.get(label) as Map<string, number[]>).values()],
      random,
    );
    const total = groups.reduce((a, g) => a + g.length, 0);
    let held = 0;
    for (const members of groups) {
      // Keep at least one group for training; take groups while it brings us closer to the target.
      const closer =
        Math.abs(held + members.length - fraction * total) <= Math.abs(held - fraction * total);
      if (closer && held + members.length < total) {
        holdout.push(...members);
        held += members.length;
      } else train.push(...members);
    }
  }
  return { train: train.sort((a, b) => a - b), holdout: holdout.sort((a, b) => a - b) };
}

/** One scored photo: calibrated probabilities over `labels`, the true label's index, the verdict given. */
export interface ScoredSample {
  probabilities: Float32Array;
  truth: number;
  verdict: 'identified' | 'uncertain' | 'not_a_footprint';
  domain: string;
}

/** Figures of a set of real footprint photos, with what the verdicts mean for a user. */
export interface VerdictReport extends EvaluationReport {
  /** Share of photos answered "identified". */
  identifiedCoverage: number;
  /** Share of the "identified" answers whose top-1 is right (0 when none). */
  identifiedPrecision: number;
  /** Share of real footprints answered `not_a_footprint`. */
  falseRejectRate: number;
  verdicts: Record<ScoredSample['verdict'], number>;
}

export function verdictReport(samples: ScoredSample[], labels: string[]): VerdictReport {
  const report = evaluatePredictions(
    samples.map((s) => s.probabilities),
    samples.map((s) => s.truth),
    labels,
  );
  const verdicts = { identified: 0, uncertain: 0, not_a_footprint: 0 };
  let identifiedRight = 0;
  for (const s of samples) {
    verdicts[s.verdict]++;
    if (s.verdict === 'identified' && argmax(s.probabilities) === s.truth) identifiedRight++;
  }
  const n = samples.length;
  return {
    ...report,
    identifiedCoverage: n ? verdicts.identified / n : 0,
    identifiedPrecision: verdicts.identified ? identifiedRight / verdicts.identified : 0,
    falseRejectRate: n ? verdicts.not_a_footprint / n : 0,
    verdicts,
  };
}

/** The headline figures of a VerdictReport, without matrices: what is printed, stored and shown. */
export interface VerdictFigures {
  n: number;
  top1: number;
  top3: number;
  macroF1: number;
  ece: number;
  identifiedCoverage: number;
  identifiedPrecision: number;
  falseRejectRate: number;
}

export function verdictFigures(r: VerdictFigures): VerdictFigures {
  return {
    n: r.n,
    top1: r.top1,
    top3: r.top3,
    macroF1: r.macroF1,
    ece: r.ece,
    identifiedCoverage: r.identifiedCoverage,
    identifiedPrecision: r.identifiedPrecision,
    falseRejectRate: r.falseRejectRate,
  };
}

/** verdictFigures of the whole set and of each domain (no nested arrays: fits Firestore). */
export function verdictFiguresByDomain(
  r: VerdictFigures & { byDomain: Record<string, VerdictFigures> },
): VerdictFigures & { byDomain: Record<string, VerdictFigures> } {
  return {
    ...verdictFigures(r),
    byDomain: Object.fromEntries(
      Object.entries(r.byDomain).map(([d, figures]) => [d, verdictFigures(figures)]),
    ),
  };
}

/** The whole set's figures plus the same figures for each domain (`byDomain`), domains sorted. */
export function evaluateByDomain(
  samples: ScoredSample[],
  labels: string[],
): VerdictReport & { byDomain: Record<string, VerdictReport> } {
  const domains = [...new Set(samples.map((s) => s.domain))].sort();
  return {
    ...verdictReport(samples, labels),
    byDomain: Object.fromEntries(
      domains.map((d) => [
        d,
        verdictReport(
          samples.filter((s) => s.domain === d),
          labels,
        ),
      ]),
    ),
  };
}

function argmax(p: Float32Array): number {
  let best = 0;
  for (let c = 1; c < p.length; c++) if ((p[c] as number) > (p[best] as number)) best = c;
  return best;
}
