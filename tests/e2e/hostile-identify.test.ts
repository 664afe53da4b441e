/**
 * The hostile corpus through the identification API (callable, as the app sends it): each
 * file gets its intended answer — an identification, or invalid-argument with a French
 * message — and nothing is left half-written: one observation and exactly two Storage objects
 * (photo, thumbnail) per accepted file, none for a refused one.
 */
import { readFileSync } from 'node:fs';
import { FunctionsError, httpsCallable } from 'firebase/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installFixtureModel, trainFixtureModel } from './model-fixture.js';
import { adminBucket, adminDb, closeAdmin, signedInClient } from './support.js';
import { HANG_BOUND_MS } from '../hang-bound.js';

afterAll(closeAdmin);

const dir = new URL('../fixtures/hostile/', import.meta.url);
const { cases } = JSON.parse(readFileSync(new URL('manifest.json', dir), 'utf8')) as {
  cases: { file: string; expected: string }[];
};

beforeAll(async () => {
  await installFixtureModel(adminBucket(), adminDb(), await trainFixtureModel());
});

describe('hostile corpus through identifyFootprint', () => {
  it(
    'answers every file as intended and leaves no orphan',
    { timeout: HANG_BOUND_MS },
    async () => {
      // Two users, so the per-user quota (30 a minute) never kicks in during the run.
      const users = [await signedInClient(), await signedInClient()];
      const identifiers = users.map((u) =>
        httpsCallable<unknown, { observationId: string; verdict: string }>(
          u.functions,
          'identifyFootprint',
          { timeout: HANG_BOUND_MS },
        ),
      );
      let accepted = 0;
      const acceptedBy = [0, 0];
      for (const [i, c] of cases.entries()) {
        const identify = identifiers[i % 2]!;
        const photo = readFileSync(new URL(c.file, dir)).toString('base64');
        const outcome = await identify({ photo }).then(
          (r) => `accepted:${r.data.verdict}`,
          (err: unknown) =>
            err instanceof FunctionsError ? `${err.code}:${err.message}` : `crash:${String(err)}`,
        );
        if (c.expected === 'accepted') {
          accepted++;
          acceptedBy[i % 2]!++;
          expect({ file: c.file, outcome }).toMatchObject({
            file: c.file,
            outcome: expect.stringMatching(/^accepted:(identified|uncertain|not_a_footprint)$/),
          });
        } else {
          // Refusals are the caller's fault (invalid-argument), with a French sentence.
          expect({ file: c.file, outcome }).toMatchObject({
            file: c.file,
            outcome: expect.stringMatching(/^functions\/invalid-argument:.*[a-zé]/),
          });
        }
      }
      for (const [i, user] of users.entries()) {
        const observations = await adminDb().collection(`users/${user.uid}/observations`).get();
        expect(observations.size).toBe(acceptedBy[i]);
        const [objects] = await adminBucket().getFiles({ prefix: `users/${user.uid}/` });
        expect(objects).toHaveLength(2 * acceptedBy[i]!);
      }
      console.log(
        `Corpus hostile via identifyFootprint : ${cases.length} fichiers, ${accepted} identifiés, ` +
          `${cases.length - accepted} refusés, aucun objet orphelin.`,
      );
    },
  );
});
