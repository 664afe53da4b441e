import { describe, expect, it } from 'vitest';
import {
  NEVER_IDENTIFIED,
  QUESTIONS,
  loadSpeciesCatalog,
  regionOf,
  type QuestionId,
  type Species,
} from '@wildlens/shared';
import {
  chooseDialogueThreshold,
  dialogueFigures,
  fitDialogueParameters,
  fitPhotoCorrelation,
  simulateDialogue,
  type DialoguePhoto,
} from './dialogue-fitting.js';
import { HARSH_HIKER, NOMINAL_HIKER, SimulatedHiker } from './hiker-simulator.js';
import { createRandom } from './random.js';

const species = loadSpeciesCatalog().species;
const labels = species.map((s) => s.id);
const byId = (id: string) => species.find((s) => s.id === id) as Species;

/**
 * Photos whose true species is drawn from their own probabilities: calibrated by
 * construction, of varied sharpness, half crops and half field photos.
 */
function calibratedPhotos(n: number, seed: number): DialoguePhoto[] {
  const random = createRandom(seed);
  return Array.from({ length: n }, (_, i) => {
    const sharpness = 1 + 5 * random();
    const w = labels.map(() => Math.exp(sharpness * random()));
    const total = w.reduce((a, b) => a + b, 0);
    const probabilities = w.map((v) => v / total);
    let u = random();
    let truth = 0;
    while (truth < labels.length - 1 && u >= (probabilities[truth] as number))
      u -= probabilities[truth++] as number;
    const domain = i % 2 ? 'crop' : 'field';
    return { probabilities, truth, domain, predictedDomain: domain };
  });
}

describe('simulated hiker', () => {
  it('answers every question with one of its options or a number in range, the same each time', () => {
    const hiker = new SimulatedHiker(byId('ecureuil'), HARSH_HIKER, createRandom(3));
    for (const id of Object.keys(QUESTIONS) as QuestionId[]) {
      const question = QUESTIONS[id];
      const answer = hiker.answer(id);
      if (question.kind === 'choice') expect(question.options.map((o) => o.id)).toContain(answer);
      else if (answer !== 'unknown') {
        expect(answer).toBeGreaterThanOrEqual(question.min);
        expect(answer).toBeLessThanOrEqual(question.max);
      }
      expect(hiker.answer(id)).toBe(answer);
    }
  });

  it('is reproducible from its seed', () => {
    const answers = (seed: number) => {
      const hiker = new SimulatedHiker(byId('loup'), NOMINAL_HIKER, createRandom(seed));
      return [hiker.place, hiker.answer('toes'), hiker.answer('length'), hiker.answer('claws')];
    };
    expect(answers(7)).toEqual(answers(7));
    expect(answers(7)).not.toEqual(answers(8));
  });

  it('mostly tells the truth about the print, with mistakes', () => {
    const random = createRandom(5);
    const raccoons = Array.from(
      { length: 400 },
      () => new SimulatedHiker(byId('raton-laveur'), NOMINAL_HIKER, random),
    );
    const fives = raccoons.filter((h) => h.answer('toes') === '5').length / raccoons.length;
    expect(fives).toBeGreaterThan(0.65);
    expect(fives).toBeLessThan(0.95);
    const lengths = raccoons.map((h) => h.answer('length')).filter((v) => typeof v === 'number');
    const median = [...lengths].sort((a, b) => Number(a) - Number(b))[lengths.length >> 1];
    expect(median).toBeGreaterThan(5);
    expect(median).toBeLessThan(11);
  });

  it('is where the species lives, except for the unexpected share of places', () => {
    const random = createRandom(9);
    const regions = Array.from({ length: 300 }, () =>
      regionOf(new SimulatedHiker(byId('puma'), NOMINAL_HIKER, random).place),
    );
    const outside = regions.filter((r) => r !== 'north-america' && r !== 'latin-america');
    expect(outside.length / regions.length).toBeLessThan(0.1);
    expect(regions.filter((r) => r === 'europe').length).toBeLessThan(15);
  });
});

describe('dialogue simulation', () => {
  it('asks at most three questions, never the same twice, and stops once identified', () => {
    const photos = calibratedPhotos(40, 1);
    const random = createRandom(2);
    for (const photo of photos) {
      const steps = simulateDialogue([photo], labels, species, null, {
        profile: NOMINAL_HIKER,
        random,
      });
      expect(steps).toHaveLength(4);
      const asked = steps.map((s) => s.result.nextQuestion?.id).filter(Boolean);
      expect(new Set(asked.slice(0, 3)).size).toBe(asked.slice(0, 3).length);
      steps.forEach((s, k) => expect(s.asked).toBeLessThanOrEqual(k));
    }
  });
});

describe('fitting the dialogue', () => {
  it('finds photos of one trail correlated, and independent photos not', () => {
    const random = createRandom(4);
    const sharp = (truth: number) => {
      // A photo right 60 % of the time, confident either way.
      const guess = random() < 0.6 ? truth : (truth + 1 + Math.floor(random() * 12)) % 13;
      return labels.map((_, i) => (i === guess ? 0.7 : 0.3 / 12));
    };
    const copies: DialoguePhoto[] = [];
    const independent: DialoguePhoto[] = [];
    for (let g = 0; g < 150; g++) {
      const truth = g % 13;
      const shared = sharp(truth);
      for (const _ of [0, 1]) {
        copies.push({ probabilities: shared, truth, domain: 'crop', group: `c${g}` });
        independent.push({ probabilities: sharp(truth), truth, domain: 'crop', group: `i${g}` });
      }
    }
    expect(fitPhotoCorrelation(copies).correlation).toBeGreaterThanOrEqual(0.9);
    expect(fitPhotoCorrelation(independent).correlation).toBeLessThanOrEqual(0.35);
    expect(fitPhotoCorrelation(calibratedPhotos(10, 3))).toEqual({ correlation: 1, pairs: 0 });
  });

  it('sets the identified threshold where the first confident answers are right 90 % of the time', () => {
    const photos = (n: number, confidence: number, correct: boolean, domain = 'crop') =>
      Array.from({ length: n }, () => ({ domain, steps: [{ confidence, correct }] }));
    // 60 photos right at 0.95 (first step), 40 wrong at 0.8, the rest never above 0.5.
    const crops = [...photos(60, 0.95, true), ...photos(40, 0.8, false), ...photos(100, 0.5, true)];
    expect(chooseDialogueThreshold(crops)).toBe(0.95);
    expect(chooseDialogueThreshold(crops.slice(60))).toBe(NEVER_IDENTIFIED);
    // Asked later: a photo is judged at its first step above the threshold.
    const later = Array.from({ length: 60 }, () => ({
      domain: 'crop',
      steps: [
        { confidence: 0.5, correct: false },
        { confidence: 0.97, correct: true },
      ],
    }));
    expect(chooseDialogueThreshold([...later, ...photos(100, 0.5, true)])).toBe(0.97);
    // Field photos taken for crops must be precise on their own, not ride on the crops'.
    const mixed = [
      ...crops,
      ...photos(20, 0.96, false, 'field'),
      ...photos(30, 0.3, true, 'field'),
    ];
    expect(chooseDialogueThreshold(mixed)).toBe(NEVER_IDENTIFIED);
  });

  it('calibrates candidate sets that hold the truth nine times out of ten on new photos', () => {
    const parameters = fitDialogueParameters(calibratedPhotos(300, 11), labels, species, {
      seed: 1,
    });
    expect(parameters.byDomain.crop?.conformalQuantiles).toHaveLength(4);
    // Observations mixing domains get the strictest fit.
    for (const own of Object.values(parameters.byDomain)) {
      expect(parameters.default.identified).toBeGreaterThanOrEqual(own.identified);
      own.conformalQuantiles.forEach((q, k) =>
        expect(parameters.default.conformalQuantiles[k]).toBeGreaterThanOrEqual(q),
      );
    }
    expect(JSON.parse(JSON.stringify(parameters))).toEqual(parameters);
    const random = createRandom(12);
    const trajectories = calibratedPhotos(300, 13).map((photo) =>
      simulateDialogue([photo], labels, species, parameters, { profile: NOMINAL_HIKER, random }),
    );
    for (const figures of dialogueFigures(trajectories)) {
      expect(figures.setCoverage).toBeGreaterThan(0.84);
      expect(figures.setCoverage).toBeLessThan(0.97);
      if (figures.identifiedCoverage > 0.05)
        expect(figures.identifiedPrecision).toBeGreaterThan(0.85);
    }
  });
});
