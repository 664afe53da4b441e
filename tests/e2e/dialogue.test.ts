/**
 * The dialogue through the API (issue 19) against the Emulator Suite: identify, then frame the
 * print, then answer, then add a photo, then read the history, checking each step's result
 * and what is stored; nextQuestion never asks what was answered; the 5-photo cap and the quota
 * a model pass spends; deletion leaves nothing (the data-protection invariants).
 *
 * The races (refine or add ‖ delete, two additions at the cap, a model promoted between two
 * photos) run the handlers in this process against the emulators, ordered by barriers (the
 * functions emulator cannot be paused), with stand-in models: which species they answer plays
 * no part in what is tested there.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { httpsCallable, type FunctionsError } from 'firebase/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  QUESTIONS,
  speciesIds,
  type DialogueParameters,
  type Question,
  type QuestionId,
} from '@wildlens/shared';
import {
  cachedSpeciesLookup,
  identifyFootprint,
  type IdentifyResponse,
} from '../../functions/src/handlers/identify.js';
import {
  addObservationPhoto,
  refineObservation,
  type DialogueDeps,
  type ObservationResponse,
} from '../../functions/src/handlers/dialogue.js';
import { deleteObservation } from '../../functions/src/handlers/observation-actions.js';
import type { ObservationSummary } from '../../functions/src/handlers/observations.js';
import type { ServingModel } from '../../functions/src/engine/model-engine.js';
import type { Caller } from '../../functions/src/common/caller.js';
import { barrier } from '../helpers/barrier.js';
import { dataInvariantViolations } from '../helpers/data-invariants.js';
import {
  footprintPhotos,
  installFixtureModel,
  syntheticFootprint,
  trainFixtureModel,
  type FixtureModel,
} from './model-fixture.js';
import { adminBucket, adminDb, closeAdmin, signedInClient, type Client } from './support.js';
import { HANG_BOUND_MS } from '../hang-bound.js';

type Hiker = Client & { uid: string };
type Payload = Record<string, unknown>;

const GRENOBLE = { lat: 45.19, lng: 5.72 };
const b64 = (buf: Buffer) => buf.toString('base64');

function call<T>(user: Client, name: string, data: Payload): Promise<T> {
  return httpsCallable<Payload, T>(user.functions, name, { timeout: HANG_BOUND_MS })(data).then(
    (r) => r.data,
  );
}

async function errorOf(promise: Promise<unknown>): Promise<FunctionsError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the call should have failed').toBeDefined();
  return err as FunctionsError;
}

const record = async (uid: string, id: string) =>
  (await adminDb().doc(`users/${uid}/observations/${id}`).get()).data() ?? {};
const ticketCount = async (uid: string) =>
  (await adminDb().collection(`rateLimits/${uid}/tickets`).count().get()).data().count;
async function objectsUnder(prefix: string): Promise<string[]> {
  const [files] = await adminBucket().getFiles({ prefix });
  return files.map((f) => f.name).sort();
}
const violations = () => dataInvariantViolations({ db: adminDb(), bucket: adminBucket() });

/** An answer a hiker could give to a question (its first option, or a plausible size). */
function answerTo(question: Question): string | number {
  return question.kind === 'choice' ? (question.options[0]?.id ?? 'unknown') : 7.5;
}

let photos: Buffer[];
let fixture: FixtureModel;
let manifestDialogue: DialogueParameters | undefined;

beforeAll(async () => {
  fixture = await trainFixtureModel({ log: (m) => console.log(`[dialogue e2e] ${m}`) });
  await installFixtureModel(adminBucket(), adminDb(), fixture);
  manifestDialogue = (
    JSON.parse(await readFile(path.join(fixture.dir, 'manifest.json'), 'utf8')) as {
      dialogue?: DialogueParameters;
    }
  ).dialogue;
  // Photos the fixture model was not trained on (it takes the first 4 of each species).
  const real = await footprintPhotos(1, 6);
  photos = real.length
    ? await Promise.all(real.slice(0, 6).map((p) => readFile(p.file)))
    : await Promise.all([0, 1, 2, 0, 1, 2].map((k, i) => syntheticFootprint(k, 7 + i)));
});

afterAll(closeAdmin);

describe('the dialogue through the deployed functions', () => {
  let hiker: Hiker;

  beforeAll(async () => {
    hiker = await signedInClient();
  });

  it('identify, then the framed print, then answers, then an added photo, then the history', async () => {
    // 1. Identification, with the place.
    const first = await call<IdentifyResponse>(hiker, 'identifyFootprint', {
      photo: b64(photos[0] as Buffer),
      location: GRENOBLE,
    });
    const id = first.observationId;
    expect(first.zone).toEqual({ id: 'europe', label: 'Europe' });
    expect(first.answers).toEqual({});
    expect(first.photos).toEqual([
      expect.objectContaining({ index: 0, photoUrl: first.photoUrl, region: null }),
    ]);
    expect(first.candidates.speciesIds.length).toBeGreaterThanOrEqual(1);
    expect(first.candidates.coverage).toBe(manifestDialogue ? manifestDialogue.coverage : null);
    expect(first.top[0]?.speciesId).toBe(first.candidates.speciesIds[0]);
    if (first.verdict !== 'uncertain') expect(first.nextQuestion).toBeNull();
    let stored = await record(hiker.uid, id);
    expect(stored.photos).toHaveLength(1);
    expect(stored.photos[0]).toMatchObject({
      photoId: null,
      photoPath: `users/${hiker.uid}/observations/${id}/photo.jpg`,
      region: null,
      evidence: {
        modelVersion: fixture.version,
        notFootprint: first.verdict === 'not_a_footprint',
      },
    });
    expect(Object.keys(stored.photos[0].evidence.probabilities).sort()).toEqual(fixture.labels);
    // The dialogue parameters of the model, kept with the observation (without the report).
    const { fitted: _report, ...kept } = manifestDialogue ?? { fitted: null };
    expect(stored.dialogueParameters).toEqual(manifestDialogue ? kept : null);
    expect(await ticketCount(hiker.uid)).toBe(1);

    // 2. The print framed: a model pass on the stored photo, which spends the quota.
    const region = { x: 0.15, y: 0.1, width: 0.7, height: 0.75 };
    const framed = await call<ObservationResponse>(hiker, 'refineObservation', {
      observationId: id,
      region,
    });
    expect(framed.photos[0]?.region).toEqual(region);
    stored = await record(hiker.uid, id);
    expect(stored.photos[0].region).toEqual(region);
    expect(stored.photos[0].evidence.domain).toBe('crop');
    expect(stored.verdict).toBe(framed.verdict);
    expect(stored.top).toEqual(framed.top);
    expect(await ticketCount(hiker.uid)).toBe(2);
    const framedEvidence = stored.photos[0].evidence;

    // 3. Answers: no model pass, no quota; the answered question is not asked again.
    const question: Question = framed.nextQuestion ?? QUESTIONS.toes;
    const answered = await call<ObservationResponse>(hiker, 'refineObservation', {
      observationId: id,
      answers: { [question.id]: answerTo(question), claws: 'unknown' },
    });
    expect(answered.answers).toEqual({ [question.id]: answerTo(question), claws: 'unknown' });
    expect([question.id, 'claws']).not.toContain(answered.nextQuestion?.id);
    stored = await record(hiker.uid, id);
    expect(stored.answers).toEqual(answered.answers);
    expect(stored.photos[0].evidence).toEqual(framedEvidence);
    expect(await ticketCount(hiker.uid)).toBe(2);

    // 4. A second photo of the trail: stored like the first, fused, one more identification.
    const added = await call<ObservationResponse>(hiker, 'addObservationPhoto', {
      observationId: id,
      photo: b64(photos[1] as Buffer),
    });
    expect(added.photos).toHaveLength(2);
    expect(added.answers).toEqual(answered.answers);
    stored = await record(hiker.uid, id);
    const second = stored.photos[1];
    expect(second.photoId).toMatch(/^[0-9a-f]{20}$/);
    expect(second.photoPath).toBe(
      `users/${hiker.uid}/observations/${id}/photo-${second.photoId}.jpg`,
    );
    expect(await objectsUnder(`users/${hiker.uid}/observations/${id}/`)).toEqual(
      [
        stored.photoPath,
        stored.thumbnailPath,
        second.photoPath as string,
        second.thumbnailPath as string,
      ].sort(),
    );
    const thumb = await fetch(added.photos[1]?.thumbnailUrl ?? '');
    expect(thumb.status).toBe(200);
    expect(await ticketCount(hiker.uid)).toBe(3);

    // 5. The history shows the refined result and every photo.
    const { items } = await call<{ items: ObservationSummary[] }>(hiker, 'listObservations', {});
    const item = items.find((i) => i.observationId === id);
    expect(item).toMatchObject({
      verdict: added.verdict,
      speciesId: added.speciesId,
      probability: added.top[0]?.probability,
      photoCount: 2,
      candidates: added.candidates,
    });
    const detail = await call<ObservationResponse>(hiker, 'getObservation', { observationId: id });
    const { species: _sheet, ...withoutSheet } = added;
    expect(detail).toEqual(withoutSheet);
    expect(added.species?.speciesId ?? null).toBe(added.speciesId);

    // 6. Deleted: every photo, the record; the invariants hold.
    await call(hiker, 'deleteObservation', { observationId: id });
    expect(await objectsUnder(`users/${hiker.uid}/observations/${id}/`)).toEqual([]);
    expect(await violations()).toEqual([]);
  });

  it('never asks what has been answered, and may ask again a withdrawn answer', async () => {
    // The first photo whose result asks something (an identified one asks nothing).
    let result: IdentifyResponse | ObservationResponse | undefined;
    for (const photo of photos) {
      const r = await call<IdentifyResponse>(hiker, 'identifyFootprint', {
        photo: b64(photo),
        location: GRENOBLE,
      });
      if (r.nextQuestion) {
        result = r;
        break;
      }
    }
    expect(result, 'one of the photos leaves the model uncertain').toBeDefined();
    const id = (result as IdentifyResponse).observationId;
    const asked: QuestionId[] = [];
    while (result?.nextQuestion) {
      const question = result.nextQuestion;
      expect(asked).not.toContain(question.id);
      expect(Object.keys(result.answers)).not.toContain(question.id);
      asked.push(question.id);
      result = await call<ObservationResponse>(hiker, 'refineObservation', {
        observationId: id,
        answers: { [question.id]: answerTo(question) },
      });
    }
    expect(asked.length).toBeGreaterThanOrEqual(1);
    const last = result as ObservationResponse;
    expect(Object.keys(last.answers).sort()).toEqual([...asked].sort());
    // Withdrawn: the answer is gone and the question may be asked again.
    const withdrawn = await call<ObservationResponse>(hiker, 'refineObservation', {
      observationId: id,
      answers: { [asked[0] as QuestionId]: null },
    });
    expect(withdrawn.answers).not.toHaveProperty(asked[0] as string);
    expect((await record(hiker.uid, id)).answers).toEqual(withdrawn.answers);
  });

  it('takes the frame with the identification, caps an observation at 5 photos, and counts each model pass', async () => {
    const user = await signedInClient();
    const region = { x: 0.1, y: 0.1, width: 0.8, height: 0.8 };
    const first = await call<IdentifyResponse>(user, 'identifyFootprint', {
      photo: b64(photos[2] as Buffer),
      region,
    });
    const id = first.observationId;
    expect(first.photos[0]?.region).toEqual(region);
    expect((await record(user.uid, id)).photos[0].evidence.domain).toBe('crop');
    for (const photo of photos.slice(3, 6)) {
      await call(user, 'addObservationPhoto', { observationId: id, photo: b64(photo) });
    }
    // At 4 photos, two additions at once: exactly one gets the last place.
    const outcomes = await Promise.allSettled(
      [photos[0], photos[1]].map((photo) =>
        call(user, 'addObservationPhoto', { observationId: id, photo: b64(photo as Buffer) }),
      ),
    );
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect((refused.reason as FunctionsError).code).toBe('functions/failed-precondition');
    expect((refused.reason as FunctionsError).message).toMatch(/déjà 5 photos/);
    const err = await errorOf(
      call(user, 'addObservationPhoto', { observationId: id, photo: b64(photos[2] as Buffer) }),
    );
    expect(err.code).toBe('functions/failed-precondition');
    const stored = await record(user.uid, id);
    expect(stored.photos).toHaveLength(5);
    // Only the five photos' objects: the refused additions deleted theirs.
    expect(await objectsUnder(`users/${user.uid}/observations/${id}/`)).toHaveLength(10);
    expect(await violations()).toEqual([]);
    // Every model pass spent one identification, refused ones included (the budget is spent
    // before the photo is read): 1 + 3 + 2 + 1.
    expect(await ticketCount(user.uid)).toBe(7);
    // A bad frame on a stored photo is refused before any model pass or quota.
    const tooThin = await errorOf(
      call(user, 'refineObservation', {
        observationId: id,
        photoIndex: 4,
        region: { x: 0, y: 0, width: 0.02, height: 0.9 },
      }),
    );
    expect(tooThin.code).toBe('functions/invalid-argument');
    expect(tooThin.message).toMatch(/^Cadre trop petit ou trop allongé/);
    const noSuchPhoto = await errorOf(
      call(user, 'refineObservation', { observationId: 'inconnue', answers: { toes: '4' } }),
    );
    expect(noSuchPhoto.code).toBe('functions/not-found');
    expect(await ticketCount(user.uid)).toBe(7);
  });
});

// ---------------------------------------------------------------------------------------------
// Races, in this process, ordered by barriers
// ---------------------------------------------------------------------------------------------

/** A stand-in model: `version`, its dialogue parameters, and how often it ran. */
function standIn(
  version: string,
  dialogue: DialogueParameters | null,
): ServingModel & { runs: number } {
  const ids = speciesIds();
  const model = {
    version,
    dialogue,
    runs: 0,
    predict: async (_image: Uint8Array, options?: { region?: unknown }) => {
      model.runs++;
      const probabilities = Object.fromEntries(
        ids.map((s) => [s, s === 'lynx' ? 0.4 : 0.6 / (ids.length - 1)]),
      );
      return {
        verdict: 'uncertain' as const,
        top: Object.entries(probabilities)
          .map(([speciesId, probability]) => ({ speciesId, probability }))
          .sort((a, b) => b.probability - a.probability),
        probabilities,
        ...(options?.region ? { domain: 'crop' } : {}),
        timingsMs: { preprocess: 0, inference: 0 },
      };
    },
    dispose: () => {},
  };
  return model;
}

const MODEL_A = standIn('modele-a', null);
const PARAMETERS_B: DialogueParameters = {
  version: 1,
  coverage: 0.9,
  score: 'lac',
  photoCorrelation: 0.3,
  byDomain: {},
  default: { identified: 1.01, conformalQuantiles: [0.9, 0.9, 0.9, 0.9] },
};
const MODEL_B = standIn('modele-b', PARAMETERS_B);

function deps(model: ServingModel, extra: Partial<DialogueDeps> = {}): DialogueDeps {
  return {
    db: adminDb(),
    bucket: adminBucket(),
    engine: { model: async () => model },
    limits: { maxBytes: 10 << 20, maxPixels: 40_000_000, minSide: 64, photoMaxSide: 1600 },
    now: () => new Date(),
    species: cachedSpeciesLookup(adminDb),
    consumeBudget: async () => ({ refund: async () => undefined }),
    ...extra,
  };
}
const actionDeps = (extra = {}) => ({
  db: adminDb(),
  bucket: adminBucket(),
  now: () => new Date(),
  ...extra,
});

async function observe(caller: Caller, model: ServingModel = MODEL_A): Promise<string> {
  const { observationId } = await identifyFootprint(
    caller,
    { photo: photos[0] as Buffer, location: GRENOBLE, takenAt: null, shareForTraining: false },
    deps(model),
  );
  return observationId;
}

const hikerCaller = (): Caller => ({
  uid: `course-${Math.random().toString(36).slice(2)}`,
  anonymous: false,
});

describe('races on one observation (deterministic: barriers)', () => {
  it('a refinement paused while the observation is deleted answers not-found and writes nothing', async () => {
    for (const data of [
      { answers: { toes: '4' } },
      { region: { x: 0.1, y: 0.1, width: 0.5, height: 0.5 } },
    ]) {
      const caller = hikerCaller();
      const id = await observe(caller);
      const paused = barrier();
      const refining = refineObservation(
        caller,
        { observationId: id, ...data },
        deps(MODEL_A, { beforeCommit: paused.wait }),
      );
      await paused.reached;
      await deleteObservation(caller.uid, { observationId: id }, actionDeps());
      paused.release();
      await expect(refining).rejects.toMatchObject({ code: 'not-found' });
      expect((await adminDb().doc(`users/${caller.uid}/observations/${id}`).get()).exists).toBe(
        false,
      );
      expect(await objectsUnder(`users/${caller.uid}/`)).toEqual([]);
    }
    expect(await violations()).toEqual([]);
  });

  it('an added photo whose observation is deleted before its record is written deletes its objects', async () => {
    const caller = hikerCaller();
    const id = await observe(caller);
    const paused = barrier();
    const adding = addObservationPhoto(
      caller,
      { observationId: id, photo: b64(photos[1] as Buffer) },
      deps(MODEL_A, { beforeCommit: paused.wait }),
    );
    await paused.reached;
    // Its objects are stored: the observation's deletion does not know them.
    expect(await objectsUnder(`users/${caller.uid}/`)).toHaveLength(4);
    await deleteObservation(caller.uid, { observationId: id }, actionDeps());
    paused.release();
    await expect(adding).rejects.toMatchObject({ code: 'not-found' });
    expect(await objectsUnder(`users/${caller.uid}/`)).toEqual([]);
    expect(await violations()).toEqual([]);
  });

  it('a photo added while a deletion erases the objects is erased with the record', async () => {
    const caller = hikerCaller();
    const id = await observe(caller);
    const paused = barrier();
    const deleting = deleteObservation(
      caller.uid,
      { observationId: id },
      actionDeps({ erasureHooks: { objectsDeleted: paused.wait } }),
    );
    await paused.reached;
    // The first photo's objects are gone, the record not yet: the addition commits.
    const added = await addObservationPhoto(
      caller,
      { observationId: id, photo: b64(photos[1] as Buffer) },
      deps(MODEL_A),
    );
    expect(added.photos).toHaveLength(2);
    paused.release();
    await deleting;
    expect((await adminDb().doc(`users/${caller.uid}/observations/${id}`).get()).exists).toBe(
      false,
    );
    expect(await objectsUnder(`users/${caller.uid}/`)).toEqual([]);
    expect(await violations()).toEqual([]);
  });

  it('two additions at the cap: one gets the fifth place, the other is refused and deletes its objects', async () => {
    const caller = hikerCaller();
    const id = await observe(caller);
    for (const photo of photos.slice(1, 4)) {
      await addObservationPhoto(
        caller,
        { observationId: id, photo: b64(photo as Buffer) },
        deps(MODEL_A),
      );
    }
    const gates = [barrier(), barrier()];
    const additions = gates.map((gate, i) =>
      addObservationPhoto(
        caller,
        { observationId: id, photo: b64(photos[4 + i] as Buffer) },
        deps(MODEL_A, { beforeCommit: gate.wait }),
      ),
    );
    // Both passed the early check and stored their objects before either commits.
    await Promise.all(gates.map((g) => g.reached));
    expect(await objectsUnder(`users/${caller.uid}/`)).toHaveLength(12);
    for (const gate of gates) gate.release();
    const outcomes = await Promise.allSettled(additions);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(
      (outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult).reason,
    ).toMatchObject({
      code: 'failed-precondition',
    });
    expect((await record(caller.uid, id)).photos).toHaveLength(5);
    expect(await objectsUnder(`users/${caller.uid}/`)).toHaveLength(10);
    expect(await violations()).toEqual([]);
    await deleteObservation(caller.uid, { observationId: id }, actionDeps());
    expect(await objectsUnder(`users/${caller.uid}/`)).toEqual([]);
  });

  it('a model promoted between two photos: the older photo is re-run, the observation takes the new model’s parameters', async () => {
    const caller = hikerCaller();
    const id = await observe(caller, MODEL_A);
    expect((await record(caller.uid, id)).dialogueParameters).toBeNull();
    const runs = MODEL_B.runs;
    const added = await addObservationPhoto(
      caller,
      { observationId: id, photo: b64(photos[1] as Buffer) },
      deps(MODEL_B),
    );
    // The new photo and the stored first one.
    expect(MODEL_B.runs - runs).toBe(2);
    const stored = await record(caller.uid, id);
    expect(
      stored.photos.map((p: { evidence: { modelVersion: string } }) => p.evidence.modelVersion),
    ).toEqual(['modele-b', 'modele-b']);
    expect(stored.model).toEqual({ version: 'modele-b' });
    expect(stored.dialogueParameters).toEqual(PARAMETERS_B);
    expect(added.candidates.coverage).toBe(0.9);
    // Answers need no model, whatever model is active now: the stored parameters apply.
    const before = MODEL_A.runs;
    const refined = await refineObservation(
      caller,
      { observationId: id, answers: { toes: '4' } },
      deps(MODEL_A),
    );
    expect(MODEL_A.runs).toBe(before);
    expect(refined.candidates.coverage).toBe(0.9);
  });

  it('refuses to mix two models’ evidence: an addition under a new model racing a reframing under the old one answers aborted', async () => {
    const caller = hikerCaller();
    const id = await observe(caller, MODEL_A);
    const paused = barrier();
    const adding = addObservationPhoto(
      caller,
      { observationId: id, photo: b64(photos[1] as Buffer) },
      deps(MODEL_B, { beforeCommit: paused.wait }),
    );
    await paused.reached;
    // Another instance, still on the old model, reframes the first photo meanwhile.
    await refineObservation(
      caller,
      { observationId: id, region: { x: 0.2, y: 0.2, width: 0.6, height: 0.6 } },
      deps(MODEL_A),
    );
    paused.release();
    await expect(adding).rejects.toMatchObject({ code: 'aborted' });
    const stored = await record(caller.uid, id);
    expect(stored.photos).toHaveLength(1);
    expect(stored.photos[0].evidence.modelVersion).toBe('modele-a');
    expect(await violations()).toEqual([]);
  });
});
