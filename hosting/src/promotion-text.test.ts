import { describe, expect, it } from 'vitest';
import { decidePromotion, type PairedOutcome } from '../../trainer/src/promotion.js';
import { promotionSentence, promotionVerdict } from './promotion-text.js';

/** `both` photos right for both models, then photos right for one model only. */
function outcomes(
  both: number,
  candidateOnly: number,
  activeOnly: number,
  domain = 'field',
): PairedOutcome[] {
  return [
    ...Array.from({ length: both }, () => ({
      domain,
      candidateCorrect: true,
      activeCorrect: true,
    })),
    ...Array.from({ length: candidateOnly }, () => ({
      domain,
      candidateCorrect: true,
      activeCorrect: false,
    })),
    ...Array.from({ length: activeOnly }, () => ({
      domain,
      candidateCorrect: false,
      activeCorrect: true,
    })),
  ];
}

const scored = (list: PairedOutcome[]) =>
  decidePromotion({ kind: 'scored', version: 'v1', sawBenchmark: false, outcomes: list });

describe('the promotion decision in plain French', () => {
  it('counts the photos only one model recognises, on the same photos, and gives the verdict', () => {
    const better = scored(outcomes(20, 12, 1));
    expect(better.rule).toBe('better');
    expect(promotionSentence(better)).toBe(
      'Sur les 33 mêmes photos du banc d’essai, 12 photos reconnues par le nouveau modèle seulement, 1 par l’ancien seulement : le nouveau modèle fait mieux, d’un écart trop net pour être dû au hasard ; il a été activé.',
    );
    expect(promotionVerdict(better)).toBe('Activé : fait mieux (12 contre 1 photos)');
  });

  it('says a small gap proves nothing, without jargon in the sentence', () => {
    const tie = scored(outcomes(20, 7, 5));
    expect(tie.rule).toBe('tie');
    const sentence = promotionSentence(tie);
    expect(sentence).toBe(
      'Sur les 32 mêmes photos du banc d’essai, 7 photos reconnues par le nouveau modèle seulement, 5 par l’ancien seulement : l’écart est trop faible pour conclure ; l’ancien reste actif (promotion manuelle possible).',
    );
    expect(sentence).not.toMatch(/p =|bruit|McNemar/);
  });

  it('names the kind of photo on which the new model is worse', () => {
    const list = [...outcomes(30, 0, 9, 'crop'), ...outcomes(30, 6, 0, 'field')];
    const decision = scored(list);
    expect(decision.rule).toBe('worse-on-domain');
    expect(promotionSentence(decision)).toMatch(
      /^Sur les 39 mêmes gros plans du banc d’essai, 0 photo reconnue par le nouveau modèle seulement, 9 par l’ancien seulement : le nouveau modèle fait nettement moins bien sur ce type de photo/,
    );
  });

  it('covers the first model, identical answers and an empty benchmark', () => {
    expect(promotionSentence(decidePromotion({ kind: 'none' }))).toMatch(/^Premier modèle/);
    expect(promotionSentence(scored(outcomes(10, 0, 0)))).toMatch(
      /^Sur les 10 mêmes photos du banc d’essai, les deux modèles reconnaissent exactement les mêmes/,
    );
    expect(promotionSentence(scored([]))).toMatch(/^Aucune photo du banc d’essai/);
    expect(promotionSentence(undefined)).toMatch(/^Aucune décision automatique/);
  });
});
