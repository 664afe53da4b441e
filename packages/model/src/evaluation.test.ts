import { describe, expect, it } from 'vitest';
import {
  evaluateByDomain,
  evaluatePredictions,
  expectedCalibrationError,
  groupedHoldoutSplit,
  groupedStratifiedKFold,
} from './evaluation.js';
import { fitTemperature } from './calibration.js';
import { softmax } from './classifier.js';
import { createRandom } from './random.js';

const items = Array.from({ length: 120 }, (_, i) => ({
  id: `img${i}`,
  label: `s${i % 4}`,
  group: `g${Math.floor(i / 8)}`,
}));

describe('grouped splits', () => {
  it('keeps every group on one side of each fold and is deterministic', () => {
    const folds = groupedStratifiedKFold(items, 5, 3);
    expect(groupedStratifiedKFold(items, 5, 3)).toEqual(folds);
    const foldOfGroup = new Map<string, number>();
    items.forEach((item, i) => {
      const key = `${item.label}/${item.group}`;
      if (foldOfGroup.has(key)) expect(foldOfGroup.get(key)).toBe(folds[i]);
      foldOfGroup.set(key, folds[i] as number);
    });
    for (let f = 0; f < 5; f++) {
      const size = folds.filter((x) => x === f).length;
      expect(size).toBeGreaterThan(10);
      for (const label of ['s0', 's1', 's2', 's3'])
        expect(items.some((it, i) => folds[i] === f && it.label === label)).toBe(true);
    }
  });

  it('holds out about the requested fraction, whole groups only', () => {
    const { train, holdout } = groupedHoldoutSplit(items, 0.2, 1);
    expect(train.length + holdout.length).toBe(items.length);
    expect(holdout.length / items.length).toBeGreaterThan(0.1);
    expect(holdout.length / items.length).toBeLessThan(0.3);
    const heldGroups = new Set(holdout.map((i) => `${items[i]!.label}/${items[i]!.group}`));
    for (const i of train)
      expect(heldGroups.has(`${items[i]!.label}/${items[i]!.group}`)).toBe(false);
  });
});

describe('metrics', () => {
  it('computes top-k, macro-F1, recall and the confusion matrix', () => {
    const p = (a: number[]) => Float32Array.from(a);
    const report = evaluatePredictions(
      [p([0.7, 0.2, 0.1]), p([0.2, 0.5, 0.3]), p([0.5, 0.1, 0.4]), p([0.1, 0.3, 0.6])],
      [0, 1, 2, 2],
      ['a', 'b', 'c'],
    );
    expect(report.top1).toBeCloseTo(0.75);
    expect(report.top3).toBe(1);
    expect(report.confusion).toEqual([
      [1, 0, 0],
      [0, 1, 0],
      [1, 0, 1],
    ]);
    expect(report.perSpeciesRecall).toEqual({ a: 1, b: 1, c: 0.5 });
    // F1: a = 2·0.5·1/1.5, b = 1, c = 2·1·0.5/1.5
    expect(report.macroF1).toBeCloseTo((2 / 3 + 1 + 2 / 3) / 3);
    expect(report.meanConfidence).toBeCloseTo((0.7 + 0.5 + 0.5 + 0.6) / 4);
  });

  it('temperature scaling fixes over-confident logits (ECE ≤ 0.05 with 2000 samples)', () => {
    // Logits whose softmax at T=1 is too sharp: the true model is softmax(logits / 3).
    const random = createRandom(5);
    const logits: Float32Array[] = [];
    const truth: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const l = Float32Array.from({ length: 5 }, () => random() * 12);
      const p = softmax(l, 3);
      let u = random();
      let y = 0;
      while (y < 4 && u > (p[y] as number)) u -= p[y++] as number;
      logits.push(l);
      truth.push(y);
    }
    const before = expectedCalibrationError(
      logits.map((l) => softmax(l)),
      truth,
    );
    const t = fitTemperature(logits, truth);
    const after = expectedCalibrationError(
      logits.map((l) => softmax(l, t)),
      truth,
    );
    expect(t).toBeGreaterThan(2.4);
    expect(t).toBeLessThan(3.6);
    expect(after).toBeLessThan(before);
    // 2000 samples over 10 bins: sampling noise of the ECE is ~0.02, so 0.05 is a safe bound.
    expect(after).toBeLessThan(0.05);
  });
});

describe('per-domain verdict report', () => {
  // Known by construction: 'crop' photos are all right and confident, 'field' photos are right
  // half of the time, and one field photo is refused as not a footprint.
  const labels = ['a', 'b'];
  const p = (a: number, b: number) => Float32Array.from([a, b]);
  const samples = [
    { probabilities: p(0.9, 0.1), truth: 0, verdict: 'identified', domain: 'crop' },
    { probabilities: p(0.2, 0.8), truth: 1, verdict: 'identified', domain: 'crop' },
    { probabilities: p(0.9, 0.1), truth: 0, verdict: 'identified', domain: 'field' },
    { probabilities: p(0.95, 0.05), truth: 1, verdict: 'identified', domain: 'field' },
    { probabilities: p(0.4, 0.6), truth: 1, verdict: 'uncertain', domain: 'field' },
    { probabilities: p(0.6, 0.4), truth: 1, verdict: 'not_a_footprint', domain: 'field' },
  ] as const;

  it('reports the whole set and each domain', () => {
    const report = evaluateByDomain(
      samples.map((s) => ({ ...s })),
      labels,
    );
    expect(report.n).toBe(6);
    expect(report.top1).toBeCloseTo(4 / 6);
    expect(Object.keys(report.byDomain)).toEqual(['crop', 'field']);
    const { crop, field } = report.byDomain;
    expect(crop).toMatchObject({ n: 2, top1: 1, identifiedCoverage: 1, identifiedPrecision: 1 });
    expect(crop!.falseRejectRate).toBe(0);
    expect(field).toMatchObject({ n: 4, top1: 0.5, identifiedCoverage: 0.5 });
    expect(field!.identifiedPrecision).toBeCloseTo(0.5);
    expect(field!.falseRejectRate).toBeCloseTo(0.25);
    expect(field!.verdicts).toEqual({ identified: 2, uncertain: 1, not_a_footprint: 1 });
    expect(report.identifiedPrecision).toBeCloseTo(3 / 4);
  });
});
