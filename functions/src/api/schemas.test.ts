import { HttpsError } from 'firebase-functions/https';
import { describe, expect, it } from 'vitest';
import { decode } from '../../../node_modules/firebase-functions/lib/common/providers/https.js';
import {
  addObservationPhotoRequest,
  createUploadUrlsRequest,
  identifyFootprintRequest,
  observationFeedbackRequest,
  observationRequest,
  parseInput,
  promoteModelRequest,
  refineObservationRequest,
  relabelTrainingImageRequest,
  speciesRequest,
} from './schemas.js';
import { parseListRequest } from '../handlers/observations.js';

const now = () => new Date('2026-05-01T12:00:00Z');
const photo = Buffer.from('jpeg').toString('base64');

function refusal(fn: () => unknown): HttpsError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpsError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('identifiers (issue 13, finding 6)', () => {
  it('refuses reserved and path-like ids before they reach Firestore', () => {
    for (const id of ['__proto__', '__name__', '__x__', '.', '..', 'a/b', '', 'x'.repeat(65)]) {
      expect(refusal(() => parseInput(observationRequest, { observationId: id })).code, id).toBe(
        'invalid-argument',
      );
      expect(
        refusal(() =>
          parseInput(observationFeedbackRequest, { observationId: id, correctedSpeciesId: null }),
        ).code,
        id,
      ).toBe('invalid-argument');
    }
    for (const version of ['__proto__', '__name__', '.', '..', 'a/b', '', 'v'.repeat(101)]) {
      expect(refusal(() => parseInput(promoteModelRequest, { version })).code, version).toBe(
        'invalid-argument',
      );
    }
    expect(parseInput(observationRequest, { observationId: 'c2v8Qd0mWm1nYkTqfH3R' })).toEqual({
      observationId: 'c2v8Qd0mWm1nYkTqfH3R',
    });
    expect(parseInput(promoteModelRequest, { version: '20260501T080000' }).version).toBe(
      '20260501T080000',
    );
  });

  it('refuses history cursors with a non-finite or huge time, or a bad id', () => {
    for (const bad of [
      { t: 1e308, id: 'abc' },
      { t: -1, id: 'abc' },
      { t: 1.5, id: 'abc' },
      { t: 1_700_000_000_000, id: '' },
      { t: 1_700_000_000_000, id: 'a/b' },
      { t: 1_700_000_000_000, id: '__name__' },
      { t: 1_700_000_000_000, id: 'abc', extra: true },
    ]) {
      expect(refusal(() => parseListRequest({ cursor: cursor(bad) })).message).toBe(
        'Curseur de pagination invalide.',
      );
    }
    // JSON has no Infinity, but a hand-made cursor can still say 1e999.
    const infinite = Buffer.from('{"t":1e999,"id":"abc"}').toString('base64url');
    expect(refusal(() => parseListRequest({ cursor: infinite })).code).toBe('invalid-argument');
    expect(parseListRequest({ cursor: cursor({ t: 1_700_000_000_000, id: 'abc' }) })).toEqual({
      pageSize: 20,
      cursor: { t: 1_700_000_000_000, id: 'abc' },
    });
  });
});

describe('one rules table (issue 13, finding 10)', () => {
  const identify = (data: unknown) =>
    parseInput(identifyFootprintRequest({ maxBytes: 1024 * 1024 }, now), data);

  it('refuses impossible calendar dates instead of rolling them over', () => {
    for (const takenAt of [
      '2026-02-30',
      '2026-02-29T10:00:00Z',
      '2026-04-31',
      '2026-01-01T24:00:00Z',
    ]) {
      expect(refusal(() => identify({ photo, takenAt })).message, takenAt).toMatch(/takenAt/);
    }
    expect(identify({ photo, takenAt: '2024-02-29T10:00:00+01:00' }).takenAt?.toISOString()).toBe(
      '2024-02-29T09:00:00.000Z',
    );
    expect(refusal(() => identify({ photo, takenAt: '1989-12-31T23:00:00Z' })).message).toMatch(
      /avant 1990/,
    );
  });

  it('bounds the GPS accuracy', () => {
    expect(
      refusal(() => identify({ photo, location: { lat: 1, lng: 2, accuracyM: 1e308 } })).message,
    ).toMatch(/accuracyM/);
    expect(identify({ photo, location: { lat: 1, lng: 2, accuracyM: 25 } }).location).toEqual({
      lat: 1,
      lng: 2,
      accuracyM: 25,
    });
  });

  it('refuses a __proto__ key of callable data, which the protocol turns into a prototype', () => {
    // What firebase-functions hands the callable for the body {"data": {"__proto__": …}}.
    const data: unknown = decode(JSON.parse(`{"__proto__": {"photo": "${photo}"}}`));
    expect(Object.getPrototypeOf(data)).not.toBe(Object.prototype);
    expect(refusal(() => identify(data)).message).toMatch(/__proto__/);
    const nested: unknown = decode(
      JSON.parse(`{"photo": "${photo}", "location": {"__proto__": {"lat": 1, "lng": 2}}}`),
    );
    expect(refusal(() => identify(nested)).code).toBe('invalid-argument');
  });

  it('never lets a hostile value escape as a crash (an object whose toString throws)', () => {
    const hostile = {
      toString() {
        throw new Error('boom');
      },
    };
    const imageId = 'a'.repeat(64);
    expect(
      refusal(() => parseInput(relabelTrainingImageRequest, { imageId, speciesId: hostile })).code,
    ).toBe('invalid-argument');
    expect(refusal(() => parseInput(speciesRequest, { speciesId: hostile })).code).toBe(
      'invalid-argument',
    );
    expect(
      refusal(() => parseInput(createUploadUrlsRequest, { speciesId: hostile, files: [] })).code,
    ).toBe('invalid-argument');
  });

  it('speaks French, and names unknown fields', () => {
    expect(refusal(() => identify({ photo, lat: 3 })).message).toBe('Champ inconnu : « lat ».');
    expect(refusal(() => identify(null)).message).toMatch(/^Requête invalide/);
    expect(refusal(() => parseInput(speciesRequest, { speciesId: 'Renard!' })).message).toMatch(
      /Identifiant d’espèce invalide/,
    );
    expect(
      refusal(() =>
        parseInput(observationFeedbackRequest, {
          observationId: 'abc',
          correctedSpeciesId: 'dragon',
        }),
      ).message,
    ).toBe('Espèce inconnue : « dragon ».');
  });
});

describe('the dialogue’s inputs (issue 19)', () => {
  const observationId = 'c2v8Qd0mWm1nYkTqfH3R';
  const region = { x: 0.25, y: 0.3, width: 0.5, height: 0.4 };
  const identify = (data: unknown) =>
    parseInput(identifyFootprintRequest({ maxBytes: 1024 * 1024 }, now), data);
  const refine = (data: Record<string, unknown>) =>
    parseInput(refineObservationRequest, { observationId, ...data });
  const addPhoto = (data: unknown) =>
    parseInput(addObservationPhotoRequest({ maxBytes: 1024 * 1024 }), data);

  it('takes a framed region on identification, refinement and an added photo', () => {
    expect(identify({ photo, region }).region).toEqual(region);
    expect(identify({ photo, region: null }).region).toBeNull();
    expect(refine({ region, photoIndex: 2 })).toEqual({ observationId, region, photoIndex: 2 });
    expect(refine({ region: null }).region).toBeNull();
    expect(addPhoto({ observationId, photo, region }).region).toEqual(region);
    // The whole photo, to the last rounding digit.
    expect(refine({ region: { x: 0.2, y: 0, width: 0.8000001, height: 1 } }).region).toBeDefined();
  });

  it.each([
    ['not an object', 'cadre', /^region doit être un objet \{ x, y, width, height \}/],
    ['a field missing', { x: 0.1, y: 0.1, width: 0.5 }, /^region.height doit être un nombre/],
    ['an unknown field', { ...region, angle: 3 }, /^Champ inconnu : « angle »/],
    ['a string', { ...region, x: '0.1' }, /^region.x doit être un nombre de 0 à 1/],
    ['negative', { ...region, y: -0.1 }, /^region.y doit être un nombre de 0 à 1/],
    ['above 1', { ...region, x: 1.5 }, /^region.x doit être un nombre de 0 à 1/],
    ['a zero size', { ...region, width: 0 }, /^Cadre trop petit : region.width/],
    ['a sliver', { ...region, height: 0.01 }, /^Cadre trop petit : region.height/],
    ['outside the photo', { x: 0.7, y: 0.1, width: 0.5, height: 0.5 }, /^Le cadre dépasse/],
  ])('refuses a region %s, in French', (_, bad, message) => {
    for (const parse of [
      () => identify({ photo, region: bad }),
      () => refine({ region: bad }),
      () => addPhoto({ observationId, photo, region: bad }),
    ]) {
      const err = refusal(parse);
      expect(err.code).toBe('invalid-argument');
      expect(err.message).toMatch(message);
    }
  });

  it('merges answers: a value, « unknown », or null to withdraw one', () => {
    expect(
      refine({
        answers: { toes: '5', claws: 'unknown', padShape: null, length: 9.5, width: 'unknown' },
      }).answers,
    ).toEqual({ toes: '5', claws: 'unknown', padShape: null, length: 9.5, width: 'unknown' });
    expect(refine({ answers: {} }).answers).toEqual({});
  });

  it.each([
    [{ toes: 4 }, /^Réponse invalide à « Combien de doigts .*« 4 », « 5 », « unknown »/],
    [{ toes: '6' }, /^Réponse invalide à « Combien de doigts/],
    [{ claws: true }, /^Réponse invalide à « Voit-on des griffes/],
    [{ padShape: 'X' }, /^Réponse invalide à « Entre les doigts/],
    [{ length: 0.1 }, /^Réponse invalide à « Longueur .*de 0.5 à 40 cm/],
    [{ length: 400 }, /^Réponse invalide à « Longueur/],
    [{ width: '9' }, /^Réponse invalide à « Largeur/],
    [{ tail: 'long' }, /^Champ inconnu : « tail »/],
  ])('refuses the answers %j, in French', (answers, message) => {
    const err = refusal(() => refine({ answers }));
    expect(err.code).toBe('invalid-argument');
    expect(err.message).toMatch(message);
  });

  it('refuses a photoIndex without a region, or out of range, and a photo-less addition', () => {
    expect(refusal(() => refine({ photoIndex: 1 })).message).toMatch(/envoyez-le avec region/);
    expect(refusal(() => refine({ region, photoIndex: 5 })).message).toMatch(/de 0 à 4/);
    expect(refusal(() => refine({ region, photoIndex: 1.5 })).message).toMatch(/entier/);
    expect(refusal(() => addPhoto({ observationId })).details).toEqual({ reason: 'empty' });
    expect(refusal(() => addPhoto({ photo, region })).message).toMatch(/observationId/);
  });
});
