/**
 * Fuzzing of every callable's input (issue 13): random values and mutations of valid payloads,
 * also through the callable protocol's own decoding (which turns a "__proto__" key into a
 * prototype). Whatever arrives, validation answers a value or `invalid-argument` with a French
 * message: never another error (which would become `internal`), and never an accepted id that
 * Firestore reserves.
 */
import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { HttpsError } from 'firebase-functions/https';
import { describe, expect, it } from 'vitest';
import { decode } from '../../../node_modules/firebase-functions/lib/common/providers/https.js';
import { fuzzParameters, fuzzTimeoutMs } from '../../../tests/helpers/fuzz.js';
import { callableInputs, parseInput } from './schemas.js';
import { parseListRequest } from '../handlers/observations.js';

const now = () => new Date('2026-05-01T12:00:00Z');
const inputs = callableInputs({ maxBytes: 64 * 1024, now });
const photo = Buffer.from('not really a jpeg').toString('base64');

/** A valid payload of each callable, the seed of the mutations. */
const VALID: Record<string, Record<string, unknown> | null> = {
  identifyFootprint: {
    photo,
    location: { lat: 45.2, lng: 5.7, accuracyM: 12 },
    takenAt: '2026-04-30T08:00:00Z',
    shareForTraining: true,
  },
  listObservations: { pageSize: 20, cursor: null },
  getObservation: { observationId: 'c2v8Qd0mWm1nYkTqfH3R' },
  deleteObservation: { observationId: 'c2v8Qd0mWm1nYkTqfH3R' },
  setObservationFeedback: { observationId: 'c2v8Qd0mWm1nYkTqfH3R', correctedSpeciesId: 'loup' },
  setObservationShare: { observationId: 'c2v8Qd0mWm1nYkTqfH3R', shareForTraining: true },
  listSpecies: null,
  getSpecies: { speciesId: 'renard' },
  getOfflineBundle: null,
  createUploadUrls: {
    speciesId: 'renard',
    files: [{ name: 'p.jpg', size: 1000, contentType: 'image/jpeg' }],
  },
  relabelTrainingImage: { imageId: 'a'.repeat(64), speciesId: 'loup' },
  deleteTrainingImage: { imageId: 'a'.repeat(64) },
  startTrainingRun: {},
  promoteModel: { version: '20260501T080000' },
  rollbackModel: {},
  acceptReviewCandidate: { candidateId: 'a'.repeat(32), speciesId: 'loup' },
  rejectReviewCandidate: { candidateId: 'a'.repeat(32), reason: 'Photo floue.' },
  getTrainingBacklog: null,
  exportOfflineBundle: { version: '20260501T080000', force: true },
};

/** Firestore reserves `__x__` ids and forbids `.`, `..` and `/` in them. */
function firestoreUnsafe(value: unknown): boolean {
  if (typeof value === 'string') return /^__.*__$/.test(value) || value === '.' || value === '..';
  if (Array.isArray(value)) return value.some(firestoreUnsafe);
  if (value && typeof value === 'object') return Object.values(value).some(firestoreUnsafe);
  return false;
}

/** Runs the callable's validation the way the callable receives its data. */
function validate(name: string, data: unknown): 'accepted' | 'refused' {
  let value: unknown;
  try {
    // The history's opaque cursor is decoded and checked by the handler's own parse step.
    value = name === 'listObservations' ? parseListRequest(data) : parseInput(inputs[name]!, data);
  } catch (err) {
    expect(err, `${name}: only invalid-argument may escape`).toBeInstanceOf(HttpsError);
    const { code, message } = err as HttpsError;
    expect(code).toBe('invalid-argument');
    expect(message.length).toBeGreaterThan(8);
    expect(message).not.toMatch(/^(Invalid|Expected|Too |Unrecognized)/);
    return 'refused';
  }
  expect(firestoreUnsafe(value), `${name} accepted a reserved id`).toBe(false);
  return 'accepted';
}

const hostileString = fc.oneof(
  fc.string(),
  fc.constantFrom('__proto__', '__name__', '.', '..', 'a/b', '', ' ', 'constructor', 'toString'),
  fc.constantFrom('2026-02-30', '1901-01-01T00:00:00Z', '9999-12-31T23:59:59Z', 'NaN', '1e999'),
);
const hostileValue = fc.oneof(
  fc.anything(),
  hostileString,
  fc.constantFrom(1e308, -1e308, Number.MAX_SAFE_INTEGER, -0, 0.1, 1.5, -1, 2 ** 53),
  fc.dictionary(hostileString, fc.jsonValue(), { maxKeys: 4 }),
);

/** A valid payload with one field replaced, removed or added (keys included). */
const mutation = (valid: Record<string, unknown> | null) =>
  fc.oneof(
    hostileValue,
    fc.record({ key: hostileString, value: hostileValue }).map(({ key, value }) => ({
      ...(valid ?? {}),
      [key]: value,
    })),
    fc
      .record({
        key: fc.constantFrom(...Object.keys(valid ?? {}), 'x'),
        value: fc.option(hostileValue),
      })
      .map(({ key, value }) => {
        const copy: Record<string, unknown> = { ...(valid ?? {}) };
        if (value === null) delete copy[key];
        else copy[key] = value;
        return copy;
      }),
  );

describe('callable payloads under fuzzing', () => {
  it('every exported callable has an input schema', () => {
    const triggers = new URL('../triggers/', import.meta.url);
    const callables = readdirSync(triggers)
      .flatMap((file) => [
        ...readFileSync(new URL(file, triggers), 'utf8').matchAll(/export const (\w+) = onCall\(/g),
      ])
      .map((m) => m[1]);
    expect(callables.sort()).toEqual(Object.keys(inputs).sort());
    for (const [name, payload] of Object.entries(VALID)) {
      expect(validate(name, payload), name).toBe('accepted');
    }
  });

  it(
    'answers a value or invalid-argument to random and mutated payloads of every callable',
    { timeout: fuzzTimeoutMs(400, 5) },
    () => {
      const names = Object.keys(VALID);
      fc.assert(
        fc.property(
          fc
            .constantFrom(...names)
            .chain((name) => fc.tuple(fc.constant(name), mutation(VALID[name] ?? null))),
          ([name, payload]) => {
            validate(name, payload);
          },
        ),
        fuzzParameters(400),
      );
    },
  );

  it(
    'survives the callable protocol decoding of hostile JSON (prototype keys, @type tags)',
    { timeout: fuzzTimeoutMs(300, 5) },
    () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...Object.keys(VALID)),
          fc.jsonValue(),
          fc.constantFrom('__proto__', 'constructor', 'prototype', 'photo', 'observationId'),
          (name, value, key) => {
            const json = JSON.stringify({ ...(VALID[name] ?? {}), [key]: value });
            let data: unknown;
            try {
              data = decode(JSON.parse(`{"__proto__": ${JSON.stringify(value)}, "x": ${json}}`));
            } catch {
              return; // the protocol itself refuses it before any function code runs
            }
            validate(name, data);
            validate(name, (data as { x: unknown }).x);
          },
        ),
        fuzzParameters(300),
      );
    },
  );
});
