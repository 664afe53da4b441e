import { Timestamp } from 'firebase-admin/firestore';
import { HttpsError } from 'firebase-functions/https';
import { describe, expect, it } from 'vitest';
import { QUESTION_IDS, type DialogueParameters } from '@wildlens/shared';
import {
  assessedFields,
  dialogueState,
  dialogueView,
  mergeAnswers,
  observationObjectPaths,
  parametersSnapshot,
  requireRegionFits,
  type StoredPhoto,
} from './observation-evidence.js';

/** Fitted-looking parameters: "identified" from 0.6 on crops, never on field photos. */
const PARAMETERS: DialogueParameters = {
  version: 1,
  coverage: 0.9,
  score: 'lac',
  photoCorrelation: 0.3,
  byDomain: {
    crop: { identified: 0.6, conformalQuantiles: [0.9, 0.85, 0.8, 0.75] },
    field: { identified: 1.01, conformalQuantiles: [0.95, 0.9, 0.9, 0.85] },
  },
  default: { identified: 1.01, conformalQuantiles: [0.95, 0.9, 0.9, 0.85] },
  fitted: { figures: 'not kept with observations' },
};

function photo(
  probabilities: Record<string, number>,
  extra: Partial<StoredPhoto['evidence']> = {},
): StoredPhoto {
  return {
    photoId: null,
    photoPath: 'users/u/observations/o/photo.jpg',
    thumbnailPath: 'users/u/observations/o/thumb.jpg',
    photoUrl: 'https://example/photo',
    thumbnailUrl: 'https://example/thumb',
    width: 1600,
    height: 1200,
    bytes: 1000,
    brightness: 120,
    region: null,
    evidence: { probabilities, domain: 'field', notFootprint: false, modelVersion: 'v1', ...extra },
    addedAt: Timestamp.fromMillis(0),
  };
}

/** Probabilities over the 13 species: `top` on one of them, the rest shared equally. */
function probabilitiesOn(speciesId: string, top: number): Record<string, number> {
  const ids = [
    'castor',
    'chat',
    'chien',
    'coyote',
    'ecureuil',
    'lapin',
    'loup',
    'lynx',
    'ours',
    'puma',
    'rat',
    'raton-laveur',
    'renard',
  ];
  return Object.fromEntries(
    ids.map((id) => [id, id === speciesId ? top : (1 - top) / (ids.length - 1)]),
  );
}

const PARIS = { lat: 48.85, lng: 2.35 };

describe('the dialogue recomputed from what an observation stores', () => {
  it('says "identified" only where the stored parameters allow it', () => {
    const crop = photo(probabilitiesOn('renard', 0.8), { domain: 'crop' });
    const field = photo(probabilitiesOn('renard', 0.8));
    const state = { answers: {}, location: null, parameters: PARAMETERS };
    expect(assessedFields({ ...state, photos: [crop] })).toMatchObject({
      verdict: 'identified',
      speciesId: 'renard',
      speciesNameFr: 'Renard roux',
      nextQuestionId: null,
      assessedDomain: 'crop',
    });
    expect(assessedFields({ ...state, photos: [field] }).verdict).toBe('uncertain');
    // A model without fitted parameters never says it, and states no coverage.
    const old = assessedFields({ ...state, parameters: null, photos: [crop] });
    expect(old.verdict).toBe('uncertain');
    expect(old.candidates.coverage).toBeNull();
    expect(assessedFields({ ...state, photos: [field] }).candidates.coverage).toBe(0.9);
  });

  it('says in its hint what is known: why a 99 % field photo is not identified, advice only for no print', () => {
    const state = { answers: {}, location: null, parameters: PARAMETERS };
    const crop = assessedFields({
      ...state,
      photos: [photo(probabilitiesOn('castor', 0.95), { domain: 'crop' })],
    });
    expect(crop.verdict).toBe('identified');
    expect(crop.hint).toBeNull();
    const field = assessedFields({ ...state, photos: [photo(probabilitiesOn('castor', 0.99))] });
    expect(field.verdict).toBe('uncertain');
    expect(field.hint).toMatch(/^Piste très sérieuse : Castor d['’]Europe \(99(,\d)?\s%\)\./u);
    expect(field.hint).toContain(
      'Le modèle n’est pas étalonné pour déclarer identifiée une photo de terrain',
    );
    expect(field.hint).toMatch(/fois sur 10/);
    // One print framed on a sharp, lit photo: nothing about coming closer twice.
    expect(field.hint?.match(/rapprochez/g) ?? []).toHaveLength(0);
    const none = assessedFields({
      ...state,
      photos: [photo(probabilitiesOn('renard', 0.6), { notFootprint: true })],
    });
    expect(none.verdict).toBe('not_a_footprint');
    expect(none.hint).toMatch(/^Aucune empreinte reconnue sur cette photo : cadrez/);
    expect(none.hint).not.toMatch(/Renard|Loup|Piste/);
  });

  it('never asks again what was answered, « je ne sais pas » included', () => {
    const photos = [photo(probabilitiesOn('loup', 0.3))];
    let answers = {};
    const asked: string[] = [];
    for (let step = 0; step < QUESTION_IDS.length; step++) {
      const next = assessedFields({
        photos,
        answers,
        location: PARIS,
        parameters: PARAMETERS,
      }).nextQuestionId;
      if (!next) break;
      expect(asked).not.toContain(next);
      asked.push(next);
      answers = mergeAnswers(answers, { [next]: 'unknown' });
    }
    expect(asked.length).toBeGreaterThanOrEqual(2);
  });

  it('applies the place: a puma in Paris is unexpected, and said so in French', () => {
    const record = {
      photos: [photo(probabilitiesOn('puma', 0.97))],
      location: PARIS,
      dialogueParameters: PARAMETERS,
    };
    const fields = assessedFields(dialogueState(record));
    expect(fields.zoneId).toBe('europe');
    expect(fields.unexpectedSpeciesIds).toContain('puma');
    // The prior lowers it (0.03) but never rules it out.
    expect(fields.probabilities.puma).toBeGreaterThan(0);
    expect(fields.probabilities.puma).toBeLessThan(0.8);
    const view = dialogueView({ ...record, ...fields });
    expect(view.zone).toEqual({ id: 'europe', label: 'Europe' });
    expect(view.unexpectedSpecies).toContainEqual({
      speciesId: 'puma',
      nameFr: 'Puma',
      note: expect.stringMatching(/^Puma : ne vit pas à l’état sauvage en Europe\./),
    });
  });

  it('merges answers: a value replaces, null withdraws, an absent question keeps its answer', () => {
    expect(
      mergeAnswers({ toes: '4', claws: 'yes', length: 9 }, { toes: '5', claws: null, width: 6 }),
    ).toEqual({ toes: '5', length: 9, width: 6 });
    expect(mergeAnswers({ toes: '4' }, undefined)).toEqual({ toes: '4' });
  });

  it('reads an observation stored before the dialogue as one photo, without parameters', () => {
    const legacy = {
      verdict: 'uncertain',
      probabilities: { renard: 0.5, loup: 0.3, chien: 0.2 },
      photoPath: 'users/u/observations/o/photo.jpg',
      thumbnailPath: 'users/u/observations/o/thumb.jpg',
      photoUrl: 'https://example/photo',
      thumbnailUrl: 'https://example/thumb',
      photo: { width: 800, height: 600, bytes: 5000 },
      model: { version: 'old' },
      top: [{ speciesId: 'renard', probability: 0.5 }],
    };
    const state = dialogueState(legacy);
    expect(state.parameters).toBeNull();
    expect(state.answers).toEqual({});
    expect(state.photos).toHaveLength(1);
    expect(state.photos[0]).toMatchObject({
      photoPath: legacy.photoPath,
      width: 800,
      evidence: { modelVersion: 'old', notFootprint: false, domain: null },
    });
    const view = dialogueView(legacy);
    expect(view.candidates.coverage).toBeNull();
    expect(view.candidates.speciesIds[0]).toBe('renard');
    expect(view.photos).toEqual([
      expect.objectContaining({ index: 0, photoUrl: legacy.photoUrl, region: null }),
    ]);
    expect(observationObjectPaths(legacy)).toEqual([legacy.photoPath, legacy.thumbnailPath]);
  });

  it('keeps the parameters without the fitting report, and names every photo’s objects', () => {
    expect(parametersSnapshot(PARAMETERS)).not.toHaveProperty('fitted');
    expect(parametersSnapshot(undefined)).toBeNull();
    const second = {
      ...photo({}),
      photoPath: 'users/u/observations/o/photo-abc.jpg',
      thumbnailPath: 'users/u/observations/o/thumb-abc.jpg',
    };
    expect(
      observationObjectPaths({
        photoPath: 'users/u/observations/o/photo.jpg',
        thumbnailPath: 'users/u/observations/o/thumb.jpg',
        photos: [photo({}), second],
      }),
    ).toEqual([
      'users/u/observations/o/photo.jpg',
      'users/u/observations/o/thumb.jpg',
      second.photoPath,
      second.thumbnailPath,
    ]);
  });

  it('refuses a frame too small or too thin for the photo’s pixels, in French', () => {
    expect(() =>
      requireRegionFits({ x: 0.1, y: 0.1, width: 0.5, height: 0.5 }, 1600, 1200),
    ).not.toThrow();
    for (const [region, width, height] of [
      [{ x: 0, y: 0, width: 0.02, height: 0.02 }, 400, 300],
      [{ x: 0, y: 0, width: 0.02, height: 1 }, 1600, 1600],
    ] as const) {
      let err: unknown;
      try {
        requireRegionFits(region, width, height);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HttpsError);
      expect(err).toMatchObject({
        code: 'invalid-argument',
        message: expect.stringMatching(/^Cadre trop petit ou trop allongé pour cette photo/),
      });
    }
  });
});
