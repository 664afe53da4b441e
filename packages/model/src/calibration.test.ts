import { describe, expect, it } from 'vitest';
import {
  IDENTIFIED_PRECISION_TARGET,
  NEVER_IDENTIFIED,
  MIN_DOMAIN_SAMPLES,
  calibrate,
  calibrationFor,
  verdictOf,
  wilsonLowerBound,
  type CalibrationSample,
} from './calibration.js';
import { softmax } from './classifier.js';
import { createRandom } from './random.js';

/** Logits over 3 classes whose top-1 is `predicted` with softmax confidence ≈ `confidence`. */
function logitsFor(predicted: number, confidence: number): Float32Array {
  const other = (1 - confidence) / 2;
  const l = [Math.log(other), Math.log(other), Math.log(other)];
  l[predicted] = Math.log(confidence);
  return Float32Array.from(l);
}

/**
 * A mixed set, by construction: crops are confidently right; field photos are right 95 % of the
 * time above 0.85 confidence but only 50 % of the time between 0.5 and 0.85. A calibration that
 * looked at the pooled set would open "identified" around 0.6 (crops pull the precision up); it
 * must not, because on field photos that threshold gives ~75 % precision.
 */
function mixedSet(): CalibrationSample[] {
  const random = createRandom(5);
  const samples: CalibrationSample[] = [];
  for (let i = 0; i < 400; i++) {
    const truth = i % 3;
    samples.push({
      logits: logitsFor(truth, 0.6 + 0.39 * random()),
      truth,
      oodScore: 0.7 + 0.2 * random(),
      domain: 'crop',
    });
  }
  for (let i = 0; i < 400; i++) {
    const truth = i % 3;
    const high = i % 2 === 0;
    const right = high ? random() < 0.95 : random() < 0.5;
    const predicted = right ? truth : (truth + 1) % 3;
    samples.push({
      logits: logitsFor(predicted, high ? 0.86 + 0.13 * random() : 0.5 + 0.34 * random()),
      truth,
      oodScore: 0.5 + 0.4 * random(),
      domain: 'field',
    });
  }
  return samples;
}

describe('calibration on a mixed set', () => {
  const samples = mixedSet();
  const calibration = calibrate(samples);

  it('opens "identified" only where every domain reaches the precision target', () => {
    const { identified, temperature } = calibration;
    expect(identified.byDomain.field!.precision).toBeGreaterThanOrEqual(
      IDENTIFIED_PRECISION_TARGET,
    );
    expect(identified.byDomain.crop!.precision).toBeGreaterThanOrEqual(IDENTIFIED_PRECISION_TARGET);
    // The field photos' unreliable middle band stays "uncertain"…
    const middle = samples.filter(
      (s) => s.domain === 'field' && Math.max(...softmax(s.logits, temperature)) < 0.8,
    );
    expect(middle.length).toBeGreaterThan(50);
    expect(
      middle.every((s) => Math.max(...softmax(s.logits, temperature)) < identified.threshold),
    ).toBe(true);
    // …while the confident ones are still answered.
    expect(identified.byDomain.field!.coverage).toBeGreaterThan(0.3);
  });

  it('refuses at most the target share of real footprints in each domain', () => {
    for (const d of ['crop', 'field']) {
      expect(calibration.notFootprint.byDomain[d]!.falseRejectRate).toBeLessThanOrEqual(0.02);
    }
    // The field photos score lower: the threshold follows them, not the pooled set.
    expect(calibration.notFootprint.threshold).toBeLessThan(0.52);
  });

  it('never says "identified" when even the most confident answers miss the target', () => {
    const coinFlips = Array.from({ length: 100 }, (_, i) => ({
      logits: logitsFor(i % 2, 0.9),
      truth: 0,
      oodScore: 0.8,
      domain: 'field',
    }));
    const c = calibrate(coinFlips);
    expect(c.identified.threshold).toBe(NEVER_IDENTIFIED);
    expect(c.identified.coverage).toBe(0);
    expect(verdictOf(0.999, false, c.identified.threshold)).toBe('uncertain');
  });
});

describe('calibration per predicted domain', () => {
  // The domain head is right 96 % of the time: 16 photos of each domain land in the other group
  // (too few to be judged there on their own).
  const samples = mixedSet().map((s, i) => ({
    ...s,
    predictedDomain: i % 25 === 0 ? (s.domain === 'crop' ? 'field' : 'crop') : s.domain,
  }));
  const calibration = calibrate(samples);

  it('gives each predicted domain its own temperature and thresholds', () => {
    const groups = calibration.byPredictedDomain!;
    expect(Object.keys(groups).sort()).toEqual(['crop', 'field']);
    expect(groups.crop!.n + groups.field!.n).toBe(samples.length);
    // Confidently right crops open "identified" lower than the field photos' unreliable band.
    // Crops are right whatever their confidence: their group sharpens, the field group does not.
    expect(groups.crop!.temperature).toBeLessThan(0.7 * groups.field!.temperature);
    expect(groups.crop!.identified.coverage).toBeGreaterThan(groups.field!.identified.coverage);
    for (const g of [groups.crop!, groups.field!])
      for (const d of Object.values(g.identified.byDomain))
        if (d.n >= MIN_DOMAIN_SAMPLES && d.coverage > 0)
          expect(d.precision).toBeGreaterThanOrEqual(IDENTIFIED_PRECISION_TARGET);
    expect(calibrationFor(calibration, 'field')).toBe(groups.field);
    expect(calibrationFor(calibration, 'crop')).toBe(groups.crop);
    // An unknown or absent predicted domain falls back to the pooled calibration.
    expect(calibrationFor(calibration, 'aerial')).toBe(calibration);
    expect(calibrationFor(calibration)).toBe(calibration);
  });

  it('keeps one pooled calibration when a predicted domain is too small to calibrate alone', () => {
    const few = samples.map((s, i) => ({
      ...s,
      predictedDomain: i < MIN_DOMAIN_SAMPLES - 1 ? 'crop' : 'field',
    }));
    const c = calibrate(few);
    expect(c.byPredictedDomain).toBeUndefined();
    expect(calibrationFor(c, 'crop')).toBe(c);
  });
});

describe('the "identified" precision check', () => {
  it('asks for a lower confidence bound, not an observed rate, so a few lucky answers are not enough', () => {
    expect(wilsonLowerBound(9, 10)).toBeLessThan(IDENTIFIED_PRECISION_TARGET);
    expect(wilsonLowerBound(14, 14)).toBeLessThan(IDENTIFIED_PRECISION_TARGET);
    expect(wilsonLowerBound(15, 15)).toBeGreaterThanOrEqual(IDENTIFIED_PRECISION_TARGET);
    expect(wilsonLowerBound(190, 200)).toBeGreaterThanOrEqual(IDENTIFIED_PRECISION_TARGET);
    expect(wilsonLowerBound(0, 0)).toBe(0);
    // Ten right answers at the top, then mistakes: observed 100 %, still not enough evidence.
    const fewRight = Array.from({ length: 60 }, (_, i) => ({
      logits: logitsFor(i < 10 ? 0 : i % 3, 0.99 - i * 0.005),
      truth: 0,
      oodScore: 0.8,
      domain: 'field',
    }));
    expect(calibrate(fewRight).identified.threshold).toBe(NEVER_IDENTIFIED);
  });
});
