import { HttpsError } from 'firebase-functions/https';
import { describe, expect, it } from 'vitest';
import { decode } from '../../../node_modules/firebase-functions/lib/common/providers/https.js';
import {
  createUploadUrlsRequest,
  identifyFootprintRequest,
  observationFeedbackRequest,
  observationRequest,
  parseInput,
  promoteModelRequest,
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
