import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadSpeciesCatalog, type Species } from '../species.js';
import { conformalQuantile, conformalScore, predictionSet } from './conformal.js';
import { FUSION_ERROR_MODEL, answersLikelihood, outcomesOf } from './likelihood.js';
import { assessObservation, type PhotoEvidence } from './observation.js';
import { NEVER_IDENTIFIED, verdictOf, type DialogueParameters } from './parameters.js';
import { askableQuestions, nextQuestion, photoExponent } from './posterior.js';
import { QUESTIONS, QUESTION_IDS, parseAnswers, type Answers } from './questions.js';
import { PRESENCE_WEIGHT, rangePrior, regionOf } from './regions.js';

const species = loadSpeciesCatalog().species;
const ids = species.map((s) => s.id);
const traitsOf = (id: string) => (species.find((s) => s.id === id) as Species).track;

/** Every species equally probable: what the answers and the place alone say. */
function uniformPhoto(domain = 'field'): PhotoEvidence {
  return { probabilities: Object.fromEntries(ids.map((id) => [id, 1 / ids.length])), domain };
}

function photoFavouring(id: string, p: number, domain = 'field'): PhotoEvidence {
  const rest = (1 - p) / (ids.length - 1);
  return {
    probabilities: Object.fromEntries(ids.map((s) => [s, s === id ? p : rest])),
    domain,
  };
}

const PARAMETERS: DialogueParameters = {
  version: 1,
  coverage: 0.9,
  score: 'lac',
  photoCorrelation: 0.5,
  byDomain: {
    field: { identified: 0.95, conformalQuantiles: [0.9, 0.85, 0.8, 0.8] },
    crop: { identified: 0.8, conformalQuantiles: [0.85, 0.8, 0.75, 0.7] },
  },
  default: { identified: NEVER_IDENTIFIED, conformalQuantiles: [0.95] },
};

/** Deterministic uniform numbers in [0, 1) (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PARIS = { lat: 48.85, lng: 2.35 };
const YELLOWSTONE = { lat: 44.6, lng: -110.5 };

describe('questions', () => {
  it('accepts options, measurements and « je ne sais pas »', () => {
    expect(parseAnswers({ toes: '5', claws: 'unknown', length: 7.5, width: 'unknown' })).toEqual({
      ok: true,
      answers: { toes: '5', claws: 'unknown', length: 7.5, width: 'unknown' },
    });
  });

  it.each([
    [[], 'objet'],
    [{ colour: 'brown' }, 'Question inconnue'],
    [{ toes: '6' }, 'choisissez parmi'],
    [{ toes: 5 }, 'choisissez parmi'],
    [{ length: 0.1 }, 'un nombre de 0.5 à 40 cm'],
    [{ length: Number.NaN }, 'un nombre'],
    [{ length: '7' }, 'un nombre'],
  ])('refuses %j with a French message', (raw, message) => {
    const parsed = parseAnswers(raw);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toContain(message);
  });

  it('offers « je ne sais pas » on every choice question', () => {
    for (const q of Object.values(QUESTIONS))
      if (q.kind === 'choice') expect(q.options.map((o) => o.id)).toContain('unknown');
  });
});

describe('likelihood model', () => {
  const everyAnswer: [keyof typeof QUESTIONS, string | number][] = [
    ['toes', '4'],
    ['toes', '5'],
    ['claws', 'yes'],
    ['claws', 'no'],
    ['padShape', 'x'],
    ['padShape', 'c'],
    ['padShape', 'none'],
    ['length', 0.5],
    ['length', 40],
    ['width', 0.5],
    ['width', 40],
  ];

  it.each(everyAnswer)(
    'a wrong answer %s = %s lowers a species, never below its floor',
    (question, value) => {
      for (const s of species) {
        const p = answersLikelihood({ [question]: value }, s.track);
        expect(p).toBeGreaterThan(0);
        const uniform =
          typeof value === 'number' ? 1 / Math.log(80) : question === 'padShape' ? 1 / 3 : 1 / 2;
        expect(p).toBeGreaterThanOrEqual(FUSION_ERROR_MODEL.floor[question] * uniform * 0.999);
      }
    },
  );

  it('even a width far from the length keeps every species possible', () => {
    for (const s of species)
      expect(answersLikelihood({ length: 3, width: 30 }, s.track)).toBeGreaterThan(0);
  });

  it('favours the species whose print matches', () => {
    const l = (answers: Answers, id: string) => answersLikelihood(answers, traitsOf(id));
    expect(l({ toes: '5' }, 'raton-laveur')).toBeGreaterThan(3 * l({ toes: '5' }, 'renard'));
    expect(l({ claws: 'no' }, 'puma')).toBeGreaterThan(2.5 * l({ claws: 'no' }, 'loup'));
    expect(l({ padShape: 'x' }, 'coyote')).toBeGreaterThan(3 * l({ padShape: 'x' }, 'lynx'));
    expect(l({ length: 25 }, 'ours')).toBeGreaterThan(20 * l({ length: 25 }, 'chat'));
    expect(l({ length: 2 }, 'rat')).toBeGreaterThan(20 * l({ length: 2 }, 'loup'));
    // A squirrel's 5-toed print is its hind foot, the larger one.
    expect(l({ toes: '5', length: 5 }, 'ecureuil')).toBeGreaterThan(
      l({ toes: '5', length: 2 }, 'ecureuil'),
    );
  });

  it('gives each question outcomes that sum to one for every species and foot', () => {
    for (const id of QUESTION_IDS)
      for (const s of species)
        for (const foot of ['front', 'hind'] as const) {
          const answers: Answers = id === 'width' ? { length: 6 } : {};
          const total = outcomesOf(id, answers).reduce(
            (sum, o) => sum + o.probability(s.track, foot),
            0,
          );
          expect(total).toBeGreaterThan(0.97);
          expect(total).toBeLessThan(1.001);
        }
  });
});

describe('regions and range prior', () => {
  it.each([
    [PARIS, 'europe'],
    [{ lat: 37.6, lng: -0.98 }, 'europe'], // Cartagena
    [{ lat: 36.14, lng: -5.35 }, 'europe'], // Gibraltar
    [{ lat: 41.0, lng: 29.0 }, 'europe'], // Istanbul
    [{ lat: 64.1, lng: -21.9 }, 'europe'], // Reykjavik
    [{ lat: 35.77, lng: -5.8 }, 'africa'], // Tangier
    [{ lat: 36.75, lng: 3.06 }, 'africa'], // Algiers
    [{ lat: 30.0, lng: 31.2 }, 'africa'], // Cairo
    [{ lat: -33.9, lng: 18.4 }, 'africa'], // Cape Town
    [YELLOWSTONE, 'north-america'],
    [{ lat: 19.4, lng: -99.1 }, 'north-america'], // Mexico City
    [{ lat: 61.2, lng: -149.9 }, 'north-america'], // Anchorage
    [{ lat: 9.0, lng: -79.5 }, 'latin-america'], // Panama
    [{ lat: -34.6, lng: -58.4 }, 'latin-america'], // Buenos Aires
    [{ lat: 32.1, lng: 34.8 }, 'asia'], // Tel Aviv
    [{ lat: 24.7, lng: 46.7 }, 'asia'], // Riyadh
    [{ lat: 35.7, lng: 139.7 }, 'asia'], // Tokyo
    [{ lat: 56.8, lng: 60.6 }, 'asia'], // Yekaterinburg
    [{ lat: -33.9, lng: 151.2 }, 'oceania'], // Sydney
    [{ lat: -41.3, lng: 174.8 }, 'oceania'], // Wellington
    [{ lat: 30, lng: -40 }, null], // mid-Atlantic
    [{ lat: -75, lng: 0 }, null], // Antarctica
    [{ lat: 95, lng: 0 }, null],
  ])('%j is in %s', (point, region) => {
    expect(regionOf(point)).toBe(region);
  });

  it('never gives a species a zero prior', () => {
    for (const region of [null, 'europe', 'north-america', 'oceania'] as const)
      for (const w of rangePrior(species, region)) expect(w).toBeGreaterThan(0);
    expect(rangePrior(species, 'europe')[ids.indexOf('puma')]).toBe(PRESENCE_WEIGHT.absent);
  });
});

describe('posterior on constructed cases', () => {
  it('answers alone rank the species whose print matches first', () => {
    const raccoon = assessObservation({
      photos: [uniformPhoto()],
      answers: { toes: '5', claws: 'yes', padShape: 'none', length: 7.5 },
      species,
    });
    expect(raccoon.top[0]?.speciesId).toBe('raton-laveur');
    const bigCat = assessObservation({
      photos: [uniformPhoto()],
      answers: { toes: '4', claws: 'no', padShape: 'c', length: 9.5 },
      species,
    });
    expect(['puma', 'lynx']).toContain(bigCat.top[0]?.speciesId);
    expect(
      bigCat.top
        .slice(0, 2)
        .map((t) => t.speciesId)
        .sort(),
    ).toEqual(['lynx', 'puma']);
  });

  it('the place settles what the print cannot: a big cat in Europe is a lynx', () => {
    const answers: Answers = { toes: '4', claws: 'no', padShape: 'c', length: 9.5 };
    const europe = assessObservation({
      photos: [uniformPhoto()],
      answers,
      location: PARIS,
      species,
    });
    expect(europe.region).toBe('europe');
    expect(europe.top[0]?.speciesId).toBe('lynx');
    const america = assessObservation({
      photos: [uniformPhoto()],
      answers,
      location: YELLOWSTONE,
      species,
    });
    expect(america.top[0]?.speciesId).toBe('puma');
  });

  it('says when a likely species does not live there, and still keeps it', () => {
    const result = assessObservation({
      photos: [photoFavouring('coyote', 0.9)],
      location: PARIS,
      species,
    });
    expect(result.unexpectedSpecies).toContain('coyote');
    const coyote = result.top.find((t) => t.speciesId === 'coyote');
    expect(coyote?.probability).toBeGreaterThan(0.05);
  });

  it('a wrong answer lowers the photo’s species but never rules it out', () => {
    const photo = photoFavouring('puma', 0.9);
    const before = assessObservation({ photos: [photo], species });
    const after = assessObservation({
      photos: [photo],
      answers: { toes: '5', claws: 'yes', padShape: 'x', length: 2 },
      species,
    });
    const p = (r: typeof before) => r.top.find((t) => t.speciesId === 'puma')?.probability ?? 0;
    expect(p(after)).toBeLessThan(p(before));
    expect(p(after)).toBeGreaterThan(1e-6);
  });

  it('« je ne sais pas » changes nothing', () => {
    const photo = photoFavouring('renard', 0.4);
    const a = assessObservation({ photos: [photo], species });
    const b = assessObservation({
      photos: [photo],
      answers: { toes: 'unknown', claws: 'unknown', length: 'unknown' },
      species,
    });
    expect(b.top).toEqual(a.top);
  });

  it('fuses photos by a tempered product: ρ = 1 is one photo’s worth, ρ = 0 multiplies them', () => {
    const photo = photoFavouring('loup', 0.5);
    const one = assessObservation({ photos: [photo], species, parameters: PARAMETERS });
    const two = (photoCorrelation: number) =>
      assessObservation({
        photos: [photo, photo],
        species,
        parameters: { ...PARAMETERS, photoCorrelation },
      }).top[0]?.probability ?? 0;
    expect(two(1)).toBeCloseTo(one.top[0]?.probability ?? 0, 6);
    expect(two(0)).toBeGreaterThan(two(0.5));
    expect(two(0.5)).toBeGreaterThan(two(1));
    expect(photoExponent(1, 0.7)).toBe(1);
    expect(photoExponent(3, 0.5)).toBeCloseTo(0.5);
  });
});

describe('nextQuestion', () => {
  it('never asks what has been answered, and only asks the width after a length', () => {
    const answerSets: Answers[] = [
      {},
      { toes: '4' },
      { toes: 'unknown', claws: 'no' },
      { length: 'unknown' },
      { length: 6, padShape: 'c' },
      { toes: '4', claws: 'no', padShape: 'c', length: 6 },
    ];
    for (const answers of answerSets)
      for (const id of ids) {
        const choice = nextQuestion(
          Array.from(ids, (s) => (s === id ? Math.log(0.5) : Math.log(0.5 / 12))),
          answers,
          species.map((s) => s.track),
        );
        if (!choice) continue;
        expect(Object.keys(answers)).not.toContain(choice.question.id);
        if (choice.question.id === 'width') expect(typeof answers.length).toBe('number');
      }
    expect(
      askableQuestions({ toes: '4', claws: 'no', padShape: 'c', length: 6, width: 5 }),
    ).toEqual([]);
  });

  it('asks what tells the two likely species apart', () => {
    // A coyote or a lynx: both 4 toes, sizes overlapping; claws and the pad's shape tell
    // them apart.
    const logits = ids.map((id) => (id === 'coyote' || id === 'lynx' ? 0 : Math.log(1e-3)));
    const choice = nextQuestion(
      logits,
      {},
      species.map((s) => s.track),
    );
    expect(['claws', 'padShape']).toContain(choice?.question.id);
    // A rat or a bear: the length settles it.
    const size = ids.map((id) => (id === 'rat' || id === 'ours' ? 0 : Math.log(1e-3)));
    expect(
      nextQuestion(
        size,
        {},
        species.map((s) => s.track),
      )?.question.id,
    ).toBe('length');
  });

  it('asks nothing once a single species is left, nor when the verdict is identified', () => {
    const sure = ids.map((id) => (id === 'loup' ? 0 : Math.log(1e-7)));
    expect(
      nextQuestion(
        sure,
        {},
        species.map((s) => s.track),
      ),
    ).toBeNull();
    const identified = assessObservation({
      photos: [photoFavouring('loup', 0.97, 'crop')],
      species,
      parameters: PARAMETERS,
    });
    expect(identified.verdict).toBe('identified');
    expect(identified.nextQuestion).toBeNull();
  });
});

describe('verdict and candidates', () => {
  it('one verdict rule', () => {
    expect(verdictOf(0.99, true, 0.5)).toBe('not_a_footprint');
    expect(verdictOf(0.6, false, 0.5)).toBe('identified');
    expect(verdictOf(0.4, false, 0.5)).toBe('uncertain');
    expect(verdictOf(1, false, NEVER_IDENTIFIED)).toBe('uncertain');
  });

  it('without fitted parameters: never identified, a wide set, no stated coverage', () => {
    const result = assessObservation({ photos: [photoFavouring('ours', 0.999)], species });
    expect(result.verdict).toBe('uncertain');
    expect(result.candidates.coverage).toBeNull();
    expect(result.candidates.speciesIds[0]).toBe('ours');
  });

  it('uses the photos’ domain: a crop at 0.85 is identified, a field photo is not', () => {
    const crop = assessObservation({
      photos: [photoFavouring('lynx', 0.85, 'crop')],
      species,
      parameters: PARAMETERS,
    });
    expect(crop.domain).toBe('crop');
    expect(crop.verdict).toBe('identified');
    const field = assessObservation({
      photos: [photoFavouring('lynx', 0.85, 'field')],
      species,
      parameters: PARAMETERS,
    });
    expect(field.verdict).toBe('uncertain');
    expect(field.candidates.coverage).toBe(0.9);
    const mixed = assessObservation({
      photos: [photoFavouring('lynx', 0.85, 'crop'), photoFavouring('lynx', 0.85, 'field')],
      species,
      parameters: PARAMETERS,
    });
    expect(mixed.domain).toBe('default');
  });

  it('is not_a_footprint only when every photo was refused, which then count for nothing', () => {
    const refused = { ...photoFavouring('rat', 0.9), notFootprint: true };
    expect(assessObservation({ photos: [refused], species }).verdict).toBe('not_a_footprint');
    const mixed = assessObservation({
      photos: [refused, photoFavouring('castor', 0.6)],
      species,
    });
    expect(mixed.verdict).toBe('uncertain');
    expect(mixed.top[0]?.speciesId).toBe('castor');
  });
});

describe('conformal prediction sets', () => {
  /** Distributions whose truth is drawn from them: calibrated by construction. */
  function calibratedSet(n: number, seed: number) {
    const next = random(seed);
    return Array.from({ length: n }, () => {
      const sharpness = 0.5 + 4 * next();
      const w = Array.from({ length: 13 }, () => Math.exp(sharpness * 3 * next()));
      const total = w.reduce((a, b) => a + b, 0);
      const p = w.map((v) => v / total);
      let u = next();
      let truth = 0;
      while (truth < 12 && u >= (p[truth] as number)) u -= p[truth++] as number;
      return { p, truth };
    });
  }

  it.each(['lac', 'aps'] as const)(
    '%s holds the true species at least nine times out of ten on new samples',
    (score) => {
      const calibration = calibratedSet(3000, 1);
      const q = conformalQuantile(
        calibration.map((s) => conformalScore(score, s.p, s.truth)),
        0.9,
      );
      const test = calibratedSet(3000, 2);
      const covered = test.filter((s) => predictionSet(score, s.p, q).includes(s.truth)).length;
      expect(covered / test.length).toBeGreaterThan(0.88);
      // LAC is near-exact; APS without randomisation is conservative.
      expect(covered / test.length).toBeLessThan(score === 'lac' ? 0.92 : 0.97);
    },
  );

  it('never returns an empty set, and every species when too few photos calibrated it', () => {
    expect(predictionSet('lac', [0.5, 0.3, 0.2], 0.1)).toEqual([0]);
    expect(conformalQuantile([0.1, 0.2], 0.9)).toBe(Infinity);
    expect(predictionSet('lac', [0.5, 0.3, 0.2], Infinity)).toEqual([0, 1, 2]);
    expect(predictionSet('aps', [0.5, 0.3, 0.2], Infinity)).toEqual([0, 1, 2]);
  });
});

describe('portability', () => {
  it('uses no Node API (it runs in browsers and React Native too)', () => {
    const dir = new URL('./', import.meta.url);
    for (const file of readdirSync(dir).filter(
      (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'),
    )) {
      const source = readFileSync(new URL(file, dir), 'utf8');
      expect(source, file).not.toMatch(/from 'node:|require\(|\bprocess\.|\bBuffer\b/);
    }
  });
});
