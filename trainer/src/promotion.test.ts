import { describe, expect, it } from 'vitest';
import { decidePromotion, pairedTest, type PairedOutcome } from './promotion.js';

/** `counts` photos of `domain` per combination: [both right, candidate only, active only, both wrong]. */
function photos(
  [both, candidateOnly, activeOnly, neither]: [number, number, number, number],
  domain = 'field',
): PairedOutcome[] {
  const make = (n: number, candidateCorrect: boolean, activeCorrect: boolean) =>
    Array.from({ length: n }, () => ({ domain, candidateCorrect, activeCorrect }));
  return [
    ...make(both, true, true),
    ...make(candidateOnly, true, false),
    ...make(activeOnly, false, true),
    ...make(neither, false, false),
  ];
}

const scored = (outcomes: PairedOutcome[], sawBenchmark = false) =>
  decidePromotion({ kind: 'scored', version: 'v-actif', outcomes, sawBenchmark });

describe('McNemar mid-p on paired top-1 correctness', () => {
  it('matches the exact binomial values', () => {
    // 12 discordant photos, 10 for the candidate: P(X > 10) + P(X = 10) / 2 = (1 + 12 + 66/2) / 4096.
    const t = pairedTest(photos([50, 10, 2, 38]));
    expect(t).toMatchObject({ n: 100, candidateTop1: 0.6, activeTop1: 0.52 });
    expect(t).toMatchObject({ candidateOnly: 10, activeOnly: 2 });
    expect(t.pBetter).toBeCloseTo(46 / 4096, 12);
    expect(t.pWorse).toBeCloseTo(1 - 46 / 4096, 12);
    // 10 discordant photos all against the candidate: (1/2) / 2^10.
    expect(pairedTest(photos([0, 0, 10, 0])).pWorse).toBeCloseTo(0.5 / 1024, 12);
  });

  it('stays exact in the far tail of large benchmarks', () => {
    // 1,000 discordant photos, 600 for the candidate (value from exact rational arithmetic).
    const t = pairedTest(photos([0, 600, 400, 0]));
    expect(t.pBetter / 1.1325366743305225e-10).toBeCloseTo(1, 6);
  });

  it('gives no evidence either way without discordant photos', () => {
    expect(pairedTest(photos([30, 0, 0, 20]))).toMatchObject({ pBetter: 0.5, pWorse: 0.5 });
    expect(pairedTest([])).toMatchObject({ n: 0, pBetter: 0.5, pWorse: 0.5 });
  });
});

describe('promotion rule', () => {
  it('promotes a clearly better model', () => {
    // 200 photos: the candidate fixes 30 the active model gets wrong and breaks 5.
    const d = scored(photos([100, 30, 5, 65]));
    expect(d).toMatchObject({ promote: true, rule: 'better', comparedWith: 'v-actif' });
    expect(d.test?.pBetter).toBeLessThan(0.001);
    expect(d.reasonFr).toMatch(/^Meilleur .* top-1 65,0 % contre 52,5 % sur 200 photos/);
  });

  it('refuses a clearly worse model', () => {
    const d = scored(photos([100, 5, 30, 65]));
    expect(d).toMatchObject({ promote: false, rule: 'worse' });
    expect(d.reasonFr).toMatch(/^Moins bon .* p < 0,001 < 0,05/);
  });

  it('refuses a tie within noise, even a slightly higher top-1, and an identical model', () => {
    // +1.5 points on 200 photos: 12 photos won, 9 lost, mid-p 0.26.
    const slightlyHigher = scored(photos([100, 12, 9, 79]));
    expect(slightlyHigher.test?.candidateTop1).toBeGreaterThan(
      slightlyHigher.test?.activeTop1 ?? 1,
    );
    expect(slightlyHigher).toMatchObject({ promote: false, rule: 'tie' });
    expect(slightlyHigher.test?.pBetter).toBeCloseTo(0.2617335, 6);
    expect(slightlyHigher.reasonFr).toMatch(/^Égalité dans le bruit .* p = 0,262 ≥ 0,05/);
    expect(scored(photos([120, 0, 0, 80]))).toMatchObject({ promote: false, rule: 'tie' });
  });

  it('refuses a model that is better overall but worse beyond noise on one domain', () => {
    const d = scored([...photos([60, 45, 5, 40], 'field'), ...photos([30, 0, 10, 10], 'crop')]);
    expect(d.test?.pBetter).toBeLessThan(0.05);
    expect(d).toMatchObject({ promote: false, rule: 'worse-on-domain' });
    expect(d.byDomain.crop).toMatchObject({ n: 50, candidateOnly: 0, activeOnly: 10 });
    expect(d.byDomain.field).toMatchObject({ n: 150, candidateOnly: 45, activeOnly: 5 });
    expect(d.reasonFr).toMatch(/domaine « crop »/);
  });

  it('reports every domain, and a tie on a small domain does not block a clear gain', () => {
    const d = scored([...photos([60, 45, 5, 40], 'field'), ...photos([30, 2, 3, 15], 'crop')]);
    expect(d).toMatchObject({ promote: true, rule: 'better' });
    expect(Object.keys(d.byDomain)).toEqual(['crop', 'field']);
  });

  it('keeps the active model when the benchmark is empty', () => {
    const d = scored([]);
    expect(d).toMatchObject({ promote: false, rule: 'tie' });
    expect(d.reasonFr).toMatch(/Aucune photo dans le banc d’essai/);
  });

  it('says when the active model may have seen the benchmark photos', () => {
    const d = scored(photos([100, 30, 5, 65]), true);
    expect(d).toMatchObject({ promote: true, activeSawBenchmark: true });
    expect(d.reasonFr).toMatch(/date d’avant le banc d’essai figé/);
  });

  it('promotes the first model, and replaces an active model that cannot be loaded', () => {
    expect(decidePromotion({ kind: 'none' })).toMatchObject({
      promote: true,
      rule: 'first-model',
      comparedWith: null,
      test: null,
    });
    const d = decidePromotion({
      kind: 'unloadable',
      version: 'v-retire',
      errorFr: 'fichier manquant',
    });
    expect(d).toMatchObject({ promote: true, rule: 'active-unloadable', comparedWith: 'v-retire' });
    expect(d.reasonFr).toMatch(/« v-retire » ne peut pas être chargé \(fichier manquant\)/);
  });
});
