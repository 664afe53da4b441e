/**
 * The held-out figures (issue 20, finding 19): crossValidateEmbeddings scores each photo with a
 * head that never saw it nor any photo of its group, and crossFittedSamples judges each fold
 * with a calibration fitted on the other folds only. Small synthetic embeddings whose answer is
 * known: no backbone, milliseconds.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { NEVER_IDENTIFIED } from './calibration.js';
import { headLogits, trainLinearHead } from './classifier.js';
import { createRandom } from './random.js';
import {
  DEFAULT_HEAD_RECIPE,
  MIRROR_VIEW,
  PHOTO_VIEW,
  crossFittedSamples,
  crossValidateEmbeddings,
  type CrossValidationResult,
  type EmbeddedImage,
} from './training.js';

const LABELS = ['loup', 'lynx', 'renard'];
const DIM = 200;
/** The default head, with fewer epochs: enough to memorise these photos, and quick. */
const RECIPE = { ...DEFAULT_HEAD_RECIPE, head: { epochs: 20 } };

/**
 * 30 groups of 2 near-identical photos (crops of one source photo), 10 groups per species,
 * each group a random direction of its own: the features say nothing about the species, so a
 * head can only tell a photo's species if it saw that photo or its twin (DIM ≫ photos: a linear
 * head memorises them).
 */
function memorisableNoise(seed = 3): EmbeddedImage[] {
  const random = createRandom(seed);
  const gaussian = () => {
    const u = Math.max(random(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
  const images: EmbeddedImage[] = [];
  for (let g = 0; g < 30; g++) {
    const direction = Float32Array.from({ length: DIM }, gaussian);
    const label = LABELS[g % LABELS.length] as string;
    for (let k = 0; k < 2; k++) {
      const near = () => Float32Array.from(direction, (v) => v + 0.01 * gaussian());
      images.push({
        id: `g${g}-${k}`,
        label,
        group: `g${g}`,
        domain: g % 2 ? 'field' : 'crop',
        sha256: `g${g}-${k}`,
        views: new Map([
          [PHOTO_VIEW, near()],
          [MIRROR_VIEW, near()],
        ]),
      });
    }
  }
  return images;
}

const argmax = (v: Float32Array) => v.indexOf(Math.max(...v));
const accuracy = (cv: CrossValidationResult) =>
  cv.logits.filter((l, i) => argmax(l) === cv.truth[i]).length / cv.logits.length;

describe('crossValidateEmbeddings', () => {
  const images = memorisableNoise();
  let cv: CrossValidationResult;
  beforeAll(async () => {
    await initBackend();
    cv = crossValidateEmbeddings(images, LABELS, RECIPE, 5, 1);
  });

  it('puts every group in one fold, and every species in every fold', () => {
    const foldOfGroup = new Map<string, Set<number>>();
    cv.folds.forEach((f, i) => {
      const group = cv.groups[i] as string;
      foldOfGroup.set(group, (foldOfGroup.get(group) ?? new Set()).add(f));
    });
    expect(foldOfGroup.size).toBe(30);
    for (const folds of foldOfGroup.values()) expect(folds.size).toBe(1);
    for (let f = 0; f < 5; f++) {
      const species = new Set(images.filter((_, i) => cv.folds[i] === f).map((im) => im.label));
      expect([...species].sort()).toEqual(LABELS);
    }
    // Every photo scored, once.
    expect(cv.logits.every((l) => l instanceof Float32Array)).toBe(true);
  });

  it('scores no photo with a head that saw it or its group (chance level on memorisable noise)', () => {
    // The control: the same head, scored on the photos it was trained on, knows them all. A
    // cross-validation that let a photo or its twin into its own training folds would too.
    const rows = images.flatMap((im) => [PHOTO_VIEW, MIRROR_VIEW].map((v) => im.views.get(v)));
    const features = new Float32Array(rows.length * DIM);
    rows.forEach((r, i) => features.set(r as Float32Array, i * DIM));
    const labels = Int32Array.from(
      images.flatMap((im) => [LABELS.indexOf(im.label), LABELS.indexOf(im.label)]),
    );
    const head = trainLinearHead(features, labels, LABELS.length, { ...RECIPE.head, seed: 1 });
    const seen =
      images.filter(
        (im) =>
          argmax(headLogits(head, im.views.get(PHOTO_VIEW) as Float32Array)) ===
          LABELS.indexOf(im.label),
      ).length / images.length;
    expect(seen).toBeGreaterThan(0.95);
    // Held out: no better than guessing among 3 species (1/3 expected).
    expect(accuracy(cv)).toBeLessThan(0.6);
  });

  it('is deterministic by seed', () => {
    const again = crossValidateEmbeddings(images, LABELS, RECIPE, 5, 1);
    expect(again.folds).toEqual(cv.folds);
    expect(again.logits).toEqual(cv.logits);
    const other = crossValidateEmbeddings(images, LABELS, RECIPE, 5, 2);
    expect(other.folds).not.toEqual(cv.folds);
  });
});

describe('crossFittedSamples', () => {
  /**
   * Two folds of 30 photos with the same confidence: fold 0 always wrong, fold 1 always right.
   * Calibrated on the other fold only, fold 1 is never "identified" (fold 0 shows that this
   * confidence is worthless) and fold 0 always is (fold 1 shows it is reliable); a calibration
   * fitted on both folds would judge them alike.
   */
  function twoFolds(): CrossValidationResult {
    const n = 60;
    const truth = Array.from({ length: n }, (_, i) => i % 3);
    return {
      labels: LABELS,
      truth,
      domains: truth.map(() => 'field'),
      logits: truth.map((t, i) => {
        const l = new Float32Array(3);
        l[i < 30 ? (t + 1) % 3 : t] = 4;
        return l;
      }),
      oodScores: truth.map(() => 0.9),
      folds: truth.map((_, i) => (i < 30 ? 0 : 1)),
      groups: truth.map((_, i) => `p${i}`),
    };
  }

  it('judges each fold with the calibration of the other folds only', () => {
    const samples = crossFittedSamples(twoFolds());
    expect(samples).toHaveLength(60);
    expect(new Set(samples.slice(0, 30).map((s) => s.verdict))).toEqual(new Set(['identified']));
    expect(new Set(samples.slice(30).map((s) => s.verdict))).toEqual(new Set(['uncertain']));
    // Each sample keeps its truth and domain; the probabilities are the other fold's temperature.
    expect(samples.map((s) => s.truth)).toEqual(twoFolds().truth);
    for (const s of samples) expect(s.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('never says "identified" when no other fold earns it', () => {
    const cv = twoFolds();
    // Every photo wrong: no threshold reaches the precision target anywhere.
    cv.logits = cv.truth.map((t) => {
      const l = new Float32Array(3);
      l[(t + 1) % 3] = 4;
      return l;
    });
    expect(crossFittedSamples(cv).every((s) => s.verdict === 'uncertain')).toBe(true);
    expect(NEVER_IDENTIFIED).toBeGreaterThan(1);
  });
});
