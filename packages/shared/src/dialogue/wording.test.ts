import { describe, expect, it } from 'vitest';
import {
  leadStrength,
  percentFr,
  resultHeadlineFr,
  resultHintFr,
  type ResultWordingInput,
} from './wording.js';

const base: ResultWordingInput = {
  verdict: 'uncertain',
  best: { nameFr: 'Renard roux', probability: 0.27 },
  candidates: { names: ['Renard roux', 'Chat forestier', 'Coyote'], coverage: 0.9 },
  identifiedThreshold: 1.01,
  domain: 'field',
  framed: false,
  questionAsked: true,
  quality: { shortSide: 1200, brightness: 130 },
};

describe('the wording of a result', () => {
  it('scales with the probability of the best lead', () => {
    expect([0.12, 0.4, 0.7, 0.991].map(leadStrength)).toEqual([
      'weak',
      'possible',
      'strong',
      'very-strong',
    ]);
    expect(resultHintFr(base)).toMatch(
      /^Piste faible : aucune espèce ne se détache \(la plus probable, Renard roux, n’a que 27\s%\)\./u,
    );
    expect(resultHintFr({ ...base, best: { nameFr: 'Renard roux', probability: 0.5 } })).toMatch(
      /^Piste possible : Renard roux \(50\s%\), sans certitude\./u,
    );
    expect(resultHeadlineFr('uncertain', { nameFr: 'Renard roux', probability: 0.12 })).toBe(
      'Piste faible : aucune espèce ne se détache',
    );
    expect(resultHeadlineFr('uncertain', { nameFr: 'Castor', probability: 0.991 })).toMatch(
      /^Piste très sérieuse, non confirmée : Castor \(99,1\s%\)$/u,
    );
    expect(resultHeadlineFr('identified', { nameFr: 'Castor', probability: 0.991 })).toBe(
      'Empreinte identifiée : Castor',
    );
  });

  it('gives the candidate set « l’une de ces N espèces, 9 fois sur 10 »', () => {
    expect(resultHintFr(base)).toContain(
      'L’une de ces 3 espèces, 9 fois sur 10 : Renard roux, Chat forestier, Coyote.',
    );
    expect(resultHintFr({ ...base, candidates: { names: ['Lynx'], coverage: null } })).toContain(
      'Espèces possibles : Lynx.',
    );
  });

  it('says in plain French why a high probability is not called identified', () => {
    const high = { ...base, best: { nameFr: 'Castor', probability: 0.991 } };
    expect(resultHintFr(high)).toContain(
      'Le modèle n’est pas étalonné pour déclarer identifiée une photo de terrain',
    );
    expect(resultHintFr({ ...high, identifiedThreshold: 0.995, domain: 'crop' })).toMatch(
      /Pour une empreinte en gros plan, le modèle ne déclare une espèce identifiée qu’à partir de 99,5\s% : 99,1\s% reste une piste\./u,
    );
    expect(resultHintFr({ ...high, identifiedThreshold: null, domain: null })).toContain(
      'son étalonnage demande plus de certitude pour ce genre de photo',
    );
    // A weak lead needs no such explanation.
    expect(resultHintFr(base)).not.toContain('étalonn');
  });

  it('says what would help, once, without asking a framed crop to come closer', () => {
    const hint = resultHintFr(base) ?? '';
    expect(hint).toContain('répondez à la question proposée');
    expect(hint).toContain('encadrez l’empreinte sur la photo');
    expect(hint).toContain('l’échelle');
    const crop = resultHintFr({ ...base, domain: 'crop', framed: true, questionAsked: false });
    expect(crop).not.toMatch(/encadrez|rapprochez|question/);
    expect(resultHintFr({ ...base, quality: { shortSide: 300, brightness: 30 } })).toMatch(
      /plus de lumière.*meilleure résolution \(la photo fait 300 pixels de côté\)/,
    );
  });

  it('gives advice only, never a species, when no print was recognised', () => {
    const hint = resultHintFr({ ...base, verdict: 'not_a_footprint' }) ?? '';
    expect(hint).toMatch(/^Aucune empreinte reconnue sur cette photo : cadrez une seule empreinte/);
    expect(hint).not.toMatch(/Renard|Chat|Coyote|Piste|fois sur 10/);
    expect(resultHeadlineFr('not_a_footprint', base.best)).toBe(
      'Aucune empreinte reconnue sur cette photo.',
    );
  });

  it('says nothing more than the species when identified', () => {
    expect(resultHintFr({ ...base, verdict: 'identified' })).toBeNull();
    expect(percentFr(0.5)).toMatch(/^50\s%$/u);
  });
});
