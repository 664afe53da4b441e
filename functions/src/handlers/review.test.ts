import { FieldValue } from 'firebase-admin/firestore';
import { describe, expect, it } from 'vitest';
import {
  candidateFromObservation,
  candidateIdFor,
  correctionFields,
  expertIdentification,
  expertView,
  queuesForReview,
} from './review.js';

describe('review candidates', () => {
  it('have one id per observation of one owner', () => {
    expect(candidateIdFor('uid1', 'obs1')).toMatch(/^[0-9a-f]{32}$/);
    expect(candidateIdFor('uid1', 'obs1')).toBe(candidateIdFor('uid1', 'obs1'));
    expect(candidateIdFor('uid1', 'obs1')).not.toBe(candidateIdFor('uid2', 'obs1'));
    // The separator keeps owner and observation apart.
    expect(candidateIdFor('a/b', 'c')).not.toBe(candidateIdFor('a', 'b/c'));
  });

  it('propose the correction when there is one, else the top-1, and flag disagreements', () => {
    expect(correctionFields('renard', null)).toEqual({
      predictedSpeciesId: 'renard',
      correctedSpeciesId: null,
      proposedSpeciesId: 'renard',
      disagreement: false,
    });
    expect(correctionFields('renard', 'loup')).toMatchObject({
      proposedSpeciesId: 'loup',
      disagreement: true,
    });
    expect(correctionFields('renard', 'renard')).toMatchObject({ disagreement: false });
    expect(correctionFields(null, 'loup')).toMatchObject({
      proposedSpeciesId: 'loup',
      disagreement: true,
    });
  });

  it('carry what the reviewer needs: photo, top-3, verdict, correction', () => {
    const candidate = candidateFromObservation('uid1', 'obs1', {
      verdict: 'uncertain',
      top: [
        { speciesId: 'chien', probability: 0.5 },
        { speciesId: 'loup', probability: 0.3 },
        { speciesId: 'coyote', probability: 0.1 },
      ],
      photoPath: 'users/uid1/observations/obs1/photo.jpg',
      photoUrl: 'https://example/photo',
      thumbnailUrl: 'https://example/thumb',
      model: { version: 'v1' },
      feedback: { correctedSpeciesId: 'loup', at: new Date() },
      anonymous: false,
      location: { lat: 45, lng: 6 },
    });
    expect(candidate).toEqual({
      ownerUid: 'uid1',
      observationId: 'obs1',
      status: 'pending',
      photoPath: 'users/uid1/observations/obs1/photo.jpg',
      photoUrl: 'https://example/photo',
      thumbnailUrl: 'https://example/thumb',
      verdict: 'uncertain',
      top: [
        { speciesId: 'chien', probability: 0.5 },
        { speciesId: 'loup', probability: 0.3 },
        { speciesId: 'coyote', probability: 0.1 },
      ],
      modelVersion: 'v1',
      predictedSpeciesId: 'chien',
      correctedSpeciesId: 'loup',
      proposedSpeciesId: 'loup',
      disagreement: true,
      anonymous: false,
      sharedAt: FieldValue.serverTimestamp(),
    });
    // Nothing the reviewer does not need (the position of the photo stays with its owner).
    expect(candidate).not.toHaveProperty('location');
  });

  it('are queued for footprints, for no footprint only once the hiker names the species, never after a rejection (issue 20, finding 11)', () => {
    expect(queuesForReview({ verdict: 'uncertain' })).toBe(true);
    expect(queuesForReview({ verdict: 'identified', feedback: null })).toBe(true);
    expect(queuesForReview({ verdict: 'not_a_footprint', feedback: null })).toBe(false);
    expect(
      queuesForReview({ verdict: 'not_a_footprint', feedback: { correctedSpeciesId: 'loup' } }),
    ).toBe(true);
    expect(queuesForReview({ verdict: 'uncertain', reviewRejectedAt: new Date() })).toBe(false);
    expect(
      queuesForReview({
        verdict: 'not_a_footprint',
        feedback: { correctedSpeciesId: 'loup' },
        reviewRejectedAt: new Date(),
      }),
    ).toBe(false);
  });

  it('tell the hiker what the expert decided: confirmed, corrected or refused, in French', () => {
    const at = new Date('2026-05-02T10:00:00Z');
    const observation = { top: [{ speciesId: 'loup', probability: 0.4 }], feedback: null };
    expect(expertIdentification(observation, 'loup', at)).toEqual({
      speciesId: 'loup',
      speciesNameFr: 'Loup gris',
      outcome: 'confirmed',
      reviewedAt: at,
    });
    const corrected = expertIdentification(observation, 'renard', at);
    expect(corrected).toMatchObject({ outcome: 'corrected', speciesNameFr: 'Renard roux' });
    // The hiker's own correction is what the observation said.
    expect(
      expertIdentification(
        { ...observation, feedback: { correctedSpeciesId: 'renard' } },
        'renard',
        at,
      ).outcome,
    ).toBe('confirmed');
    expect(expertView({ expert: corrected })).toEqual({
      speciesId: 'renard',
      speciesNameFr: 'Renard roux',
      outcome: 'corrected',
      reviewedAt: '2026-05-02T10:00:00.000Z',
      label: 'Corrigé par un expert : Renard roux',
    });
    expect(expertView({ expert: expertIdentification(observation, null, at) })).toMatchObject({
      speciesId: null,
      outcome: 'rejected',
      label: 'Examinée par un expert : photo non retenue, espèce non confirmée',
    });
    expect(expertView({})).toBeNull();
    expect(expertView({ expert: { outcome: 'peut-être' } })).toBeNull();
  });
});
