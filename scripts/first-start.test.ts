import { describe, expect, it } from 'vitest';
import { decidePromotion, type PairedOutcome } from '../trainer/src/promotion.js';
import { describeDecision, planFirstStart } from './first-start.js';

describe('planFirstStart', () => {
  const crops = { dir: '/d/footprints-dev', domain: 'crop' };
  const field = { dir: '/d/footprints-field-dev', domain: 'field' };
  const mine = { dir: '/d/mes-photos', domain: 'mes-photos' };

  it('puts the crops first, then everything else, when the list mixes them', () => {
    expect(planFirstStart([field, crops, mine])).toEqual([
      { dirs: ['/d/footprints-dev'], domains: ['crop'], state: 'pending' },
      {
        dirs: ['/d/footprints-field-dev', '/d/mes-photos'],
        domains: ['field', 'mes-photos'],
        state: 'pending',
      },
    ]);
  });

  it('makes one phase of a list of one kind', () => {
    expect(planFirstStart([field, mine])).toHaveLength(1);
    expect(planFirstStart([crops])).toEqual([
      { dirs: ['/d/footprints-dev'], domains: ['crop'], state: 'pending' },
    ]);
    expect(planFirstStart([])).toEqual([{ dirs: [], domains: [], state: 'pending' }]);
  });
});

/** A candidate's run document after the paired test on these benchmark photos. */
function runAfter(outcomes: PairedOutcome[]): Record<string, unknown> {
  const promotion = decidePromotion({
    kind: 'scored',
    version: 'v-phase-1',
    outcomes,
    sawBenchmark: false,
  });
  return {
    status: 'succeeded',
    modelVersion: 'v-phase-2',
    promoted: promotion.promote,
    promotion,
    ...(promotion.promote ? {} : { notPromotedReason: promotion.reasonFr }),
  };
}

const photos = (domain: string, n: number, candidate: number, active: number) =>
  Array.from({ length: n }, (_, i) => ({
    domain,
    candidateCorrect: i < candidate,
    activeCorrect: i < active,
  }));

describe('describeDecision', () => {
  it('says a promoted candidate’s gain per domain, the phase’s new domain first', () => {
    const run = runAfter([...photos('crop', 40, 30, 30), ...photos('field', 100, 40, 10)]);
    expect(run.promoted).toBe(true);
    expect(describeDecision(run, ['field'])).toBe(
      'Modèle amélioré activé (+30,0 points de top-1 sur les photos de terrain, 0,0 sur les gros plans) : ' +
        String((run.promotion as { reasonFr: string }).reasonFr),
    );
  });

  it('says why a candidate was refused', () => {
    const run = runAfter([...photos('crop', 40, 20, 30), ...photos('field', 100, 40, 30)]);
    expect(run.promoted).toBe(false);
    expect(describeDecision(run, ['field'])).toMatch(
      /^Candidat refusé : Moins bon que le modèle actif au-delà du bruit sur le domaine « crop » : .* Le modèle actif reste en service\.$/,
    );
  });
});
