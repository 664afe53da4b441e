/**
 * Real training with @wildlens/model on ../shared's photos, no emulator needed: a real backbone
 * learns (held-out accuracy well above chance, calibration by temperature scaling, a domain
 * head that tells crops from field photos). Minutes of CPU on a busy 2-core machine: it runs in
 * the e2e step beside the other real training runs, its budgets only bound a hang. The
 * training logic itself (caches, bases, per-domain figures, the saved format) is unit-tested
 * fast on a tiny backbone (packages/model/src/training.test.ts).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BACKBONE_ID,
  DEFAULT_FEATURE_RECIPE,
  evaluatePredictions,
  groupedHoldoutSplit,
  initBackend,
  readDataset,
  readDatasets,
  trainFootprintModel,
} from '@wildlens/model';
import { NEEDS } from '../requirements.js';
import { FOOTPRINTS_DIR, SHARED_DIR, hasFootprints } from './model-fixture.js';

const FIELD_FOOTPRINTS_DIR = path.join(SHARED_DIR, 'datasets', 'footprints-field-dev');
// Four species from four families whose tracks differ in shape (and that the 13-class CV
// recognises best): these tests check that training works, not the 13-class accuracy.
const SPECIES = ['castor', 'ecureuil', 'lapin', 'rat'];
/** Only bounds a hang: one training takes about a minute here, several on a loaded machine. */
const HANG_BOUND_MS = 20 * 60_000;

describe.skipIf(!hasFootprints)('real training on a footprint subset', NEEDS.shared, () => {
  it(
    'beats chance by a wide margin on held-out groups and calibrates',
    async () => {
      await initBackend();
      const dataset = await readDataset(FOOTPRINTS_DIR);
      const subset = dataset.images.filter((i) => SPECIES.includes(i.label));
      const { train, holdout } = groupedHoldoutSplit(subset, 0.3, 1);
      const { model, metrics } = await trainFootprintModel({
        // Pinned: `auto` would depend on which weights this machine has.
        backboneId: DEFAULT_BACKBONE_ID,
        images: train.map((i) => subset[i]!),
        syntheticNegatives: 12,
      });
      const labels = model.manifest.labels;
      const probabilities: Float32Array[] = [];
      const truth: number[] = [];
      for (const i of holdout) {
        const image = subset[i]!;
        const p = await model.predict(await image.read());
        probabilities.push(Float32Array.from(labels.map((l) => p.probabilities[l]!)));
        truth.push(labels.indexOf(image.label));
      }
      model.dispose();
      const report = evaluatePredictions(probabilities, truth, labels);
      console.log(
        `4-species holdout: n=${report.n} top-1 ${report.top1.toFixed(3)} (chance 0.25); OOF ECE ${metrics.crossValidation?.eceBeforeCalibration.toFixed(3)} → ${metrics.crossValidation?.ece.toFixed(3)}`,
      );
      expect(report.top1).toBeGreaterThanOrEqual(0.45);
      // Temperature scaling on out-of-fold logits. With ~70 images in 10 bins (≈7 per bin), even a
      // perfectly calibrated model shows an ECE of ~0.1 from sampling noise (E|p̂−p| ≈ 0.4/√7·…),
      // so the bound is 0.2 and strictly better than before; the 2000-sample synthetic test in
      // evaluation.test.ts checks the tight bound (≤ 0.05), the 285-image CV reaches ≈ 0.05.
      const cv = metrics.crossValidation!;
      expect(cv.ece).toBeLessThanOrEqual(0.2);
      expect(cv.ece).toBeLessThan(cv.eceBeforeCalibration);
    },
    HANG_BOUND_MS,
  );

  it(
    'learns from crops and field photos together and tells the domains apart',
    async () => {
      await initBackend();
      const dataset = await readDatasets([FOOTPRINTS_DIR, FIELD_FOOTPRINTS_DIR]);
      // A few photos of each species in each domain, the first ones in a stable order.
      const subset = ['crop', 'field'].flatMap((domain) =>
        SPECIES.flatMap((label) =>
          dataset.images
            .filter((i) => i.label === label && i.domain === domain)
            .slice(0, domain === 'crop' ? 8 : 14),
        ),
      );
      const { train, holdout } = groupedHoldoutSplit(subset, 0.25, 1);
      const { model } = await trainFootprintModel({
        backboneId: DEFAULT_BACKBONE_ID,
        images: train.map((i) => subset[i]!),
        // The default recipe with a smaller whole-photo view.
        features: { ...DEFAULT_FEATURE_RECIPE, wholeLongSide: 256 },
        syntheticNegatives: 6,
      });
      const held = holdout.map((i) => subset[i]!);
      const predictions = await Promise.all(held.map(async (i) => model.predict(await i.read())));
      model.dispose();
      const domainRight = predictions.filter((p, k) => p.domain === held[k]!.domain).length;
      expect(domainRight / held.length).toBeGreaterThanOrEqual(0.75);
    },
    HANG_BOUND_MS,
  );
});
