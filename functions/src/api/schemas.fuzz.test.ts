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
import {
  MIN_REGION_FRACTION,
  QUESTION_IDS,
  parseAnswers,
  regionInsidePhoto,
} from '@wildlens/shared';
import { notFrenchBecause } from '../../../tests/helpers/french.js';
import {
  callableInputs,
  parseInput,
  rawPayloadProblem,
  refineObservationRequest,
} from './schemas.js';
import { parseListRequest } from '../handlers/observations.js';

const now = () => new Date('2026-05-01T12:00:00Z');
const inputs = callableInputs({ maxBytes: 64 * 1024, now });
const photo = Buffer.from('not really a jpeg').toString('base64');

/** A valid payload of each callable, the seed of the mutations. */
const REGION = { x: 0.2, y: 0.3, width: 0.4, height: 0.35 };
const VALID: Record<string, Record<string, unknown> | null> = {
  identifyFootprint: {
    photo,
    region: REGION,
    location: { lat: 45.2, lng: 5.7, accuracyM: 12 },
    takenAt: '2026-04-30T08:00:00Z',
    shareForTraining: true,
  },
  listObservations: { pageSize: 20, cursor: null },
  getObservation: { observationId: 'c2v8Qd0mWm1nYkTqfH3R' },
  deleteObservation: { observationId: 'c2v8Qd0mWm1nYkTqfH3R' },
  setObservationFeedback: { observationId: 'c2v8Qd0mWm1nYkTqfH3R', correctedSpeciesId: 'loup' },
  setObservationShare: { observationId: 'c2v8Qd0mWm1nYkTqfH3R', shareForTraining: true },
  refineObservation: {
    observationId: 'c2v8Qd0mWm1nYkTqfH3R',
    answers: { toes: '4', claws: 'unknown', padShape: null, length: 9.5, width: 'unknown' },
    region: REGION,
    photoIndex: 1,
  },
  addObservationPhoto: { observationId: 'c2v8Qd0mWm1nYkTqfH3R', photo, region: REGION },
  listSpecies: null,
  getSpecies: { speciesId: 'renard' },
  getOfflineBundle: null,
  syncOfflineObservations: {
    observations: [
      {
        clientId: '0b9e6f5c-2f0a-4c1e-9d4b-7a3e2c1f8d60',
        photo,
        takenAt: '2026-04-30T08:00:00Z',
        location: { lat: 45.2, lng: 5.7, accuracyM: 12 },
        region: REGION,
        shareForTraining: true,
        onDevice: {
          bundleVersion: '20260501T080000',
          verdict: 'uncertain',
          top: [
            { speciesId: 'renard', probability: 0.41 },
            { speciesId: 'chien', probability: 0.22 },
          ],
          domain: 'field',
          oodScore: 0.8,
          identifiedAt: '2026-04-30T08:00:05Z',
        },
      },
    ],
  },
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
  tryModel: { version: '20260501T080000', photo, region: REGION, location: { lat: 45, lng: 6 } },
};

/** Fields whose value becomes a document id or a path segment (free text such as a reason does not). */
const ID_FIELD = /Id$|^version$|^name$/;

/** Firestore reserves `__x__` ids and forbids `.`, `..` and `/` in them. */
function firestoreUnsafe(value: unknown, key = ''): boolean {
  if (typeof value === 'string') {
    return ID_FIELD.test(key) && (/^__.*__$/.test(value) || value === '.' || value === '..');
  }
  if (Array.isArray(value)) return value.some((v) => firestoreUnsafe(v, key));
  if (value && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => firestoreUnsafe(v, k));
  }
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
    expect(notFrenchBecause(message), message).toBeNull();
    return 'refused';
  }
  expect(firestoreUnsafe(value), `${name} accepted a reserved id`).toBe(false);
  return 'accepted';
}

/** The callable protocol's typed values, known or not, well-formed or not. */
const typedValue = fc.record({
  '@type': fc.oneof(
    fc.constantFrom(
      'type.googleapis.com/google.protobuf.Int64Value',
      'type.googleapis.com/google.protobuf.UInt64Value',
      'type.googleapis.com/google.protobuf.Timestamp',
    ),
    fc.string(),
  ),
  value: fc.oneof(fc.constantFrom('12', '-3', 'NaN', 'abc', ''), fc.jsonValue()),
});

/** Arrays and objects nested up to thousands of levels (the protocol's decoder recurses). */
const nested = fc
  .tuple(fc.integer({ min: 1, max: 4_000 }), fc.boolean(), fc.jsonValue({ maxDepth: 1 }))
  .map(([depth, arrays, leaf]) => {
    let value: unknown = leaf;
    for (let i = 0; i < depth; i++) value = arrays ? [value] : { a: value };
    return value;
  });

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
    'survives the callable protocol decoding of hostile JSON (prototype keys, @type tags, deep nesting)',
    { timeout: fuzzTimeoutMs(300, 5) },
    () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...Object.keys(VALID)),
          fc.oneof(fc.jsonValue(), typedValue, nested),
          fc.constantFrom('__proto__', 'constructor', 'prototype', 'photo', 'observationId'),
          (name, value, key) => {
            const json = JSON.stringify({ ...(VALID[name] ?? {}), [key]: value });
            const body = JSON.parse(`{"__proto__": ${JSON.stringify(value)}, "x": ${json}}`);
            for (const raw of [body, body.x]) {
              // What the callables do before the protocol decodes (common/callable.ts)…
              const problem = rawPayloadProblem(raw);
              if (problem !== null) {
                expect(notFrenchBecause(problem), problem).toBeNull();
                continue;
              }
              // …so the decoding never throws, and validation answers as always.
              validate(name, decode(raw));
            }
          },
        ),
        fuzzParameters(300),
      );
    },
  );
});

describe('the dialogue’s inputs under fuzzing (issue 19)', () => {
  const edge = fc.constantFrom(0, 1, MIN_REGION_FRACTION, 0.0199, 1.0000001, -0, -1e-9, 0.5);
  const number = fc.oneof(fc.double(), edge, fc.constantFrom(NaN, Infinity, -Infinity));
  const coordinate = fc.oneof(
    // Mostly plausible fractions (fc.double is biased to extremes), so that many pass.
    { weight: 4, arbitrary: fc.integer({ min: 0, max: 600 }).map((i) => i / 1000) },
    { weight: 1, arbitrary: number },
    { weight: 1, arbitrary: hostileValue },
  );

  it(
    'a region is accepted only inside the photo, with a size of at least 2 % a side',
    { timeout: fuzzTimeoutMs(600, 2) },
    () => {
      let accepted = 0;
      fc.assert(
        fc.property(
          fc.record({ x: coordinate, y: coordinate, width: coordinate, height: coordinate }),
          (region) => {
            const data = { observationId: 'c2v8Qd0mWm1nYkTqfH3R', region };
            if (validate('refineObservation', data) === 'refused') return;
            accepted++;
            const parsed = parseInput(refineObservationRequest, data).region;
            expect(parsed && regionInsidePhoto(parsed)).toBe(true);
            expect(Math.min(parsed!.width, parsed!.height)).toBeGreaterThanOrEqual(
              MIN_REGION_FRACTION,
            );
          },
        ),
        fuzzParameters(600),
      );
      expect(accepted, 'some generated regions are valid').toBeGreaterThan(0);
    },
  );

  it(
    'accepted answers are answers the dialogue understands (or null, a withdrawal)',
    { timeout: fuzzTimeoutMs(600, 2) },
    () => {
      const key = fc.oneof(fc.constantFrom(...QUESTION_IDS), hostileString);
      const value = fc.oneof(
        fc.constantFrom('4', '5', 'yes', 'no', 'x', 'c', 'none', 'unknown', null, 'Unknown', '4 '),
        number,
        hostileValue,
      );
      let accepted = 0;
      fc.assert(
        fc.property(fc.dictionary(key, value, { maxKeys: 6 }), (answers) => {
          const data = { observationId: 'c2v8Qd0mWm1nYkTqfH3R', answers };
          if (validate('refineObservation', data) === 'refused') return;
          accepted++;
          const parsed = parseInput(refineObservationRequest, data).answers ?? {};
          const given = Object.fromEntries(Object.entries(parsed).filter(([, v]) => v !== null));
          expect(parseAnswers(given)).toEqual({ ok: true, answers: given });
        }),
        fuzzParameters(600),
      );
      expect(accepted, 'some generated answers are valid').toBeGreaterThan(0);
    },
  );
});
