import { HttpsError } from 'firebase-functions/https';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ImageDecodeError, decodeToRgb } from '../../../packages/model/src/image-pipeline.js';
import { ImageRejection } from '../images/inspect.js';
import {
  MODEL_LOADING_MESSAGE_FR,
  MODEL_LOADING_RETRY_SECONDS,
  ModelEngine,
  parsePointer,
  servingModel,
  type ActiveModelPointer,
  type ServingModel,
} from './model-engine.js';

function fakeModel(version: string): ServingModel {
  return {
    version,
    predict: () =>
      Promise.resolve({
        verdict: 'identified',
        top: [],
        probabilities: {},
        timingsMs: { preprocess: 0, inference: 0 },
      }),
    dispose: vi.fn(),
  };
}

function setup(initial: ActiveModelPointer | null) {
  const state = { pointer: initial, clock: 0, broken: new Set<string>() };
  const load = vi.fn(async (p: ActiveModelPointer) => {
    await new Promise((r) => setTimeout(r, 5));
    if (state.broken.has(p.version)) throw new Error('manifest.json: No such object');
    return fakeModel(p.version);
  });
  const readPointer = vi.fn(async () => state.pointer);
  const engine = new ModelEngine({
    readPointer,
    load,
    now: () => state.clock,
    recheckMs: () => 30_000,
    disposeDelayMs: 0,
  });
  return { engine, state, load, readPointer };
}

const pointer = (version: string) => ({ version, storagePrefix: `models/${version}/` });

describe('ModelEngine', () => {
  it('answers failed-precondition in French while no model is active', async () => {
    const { engine } = setup(null);
    const err = await engine.model().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpsError);
    expect((err as HttpsError).code).toBe('failed-precondition');
    expect((err as HttpsError).message).toMatch(/^Aucun modèle n'est encore entraîné/);
  });

  it('loads once for concurrent requests and re-reads the pointer only after the interval', async () => {
    const { engine, state, load, readPointer } = setup(pointer('v1'));
    const models = await Promise.all(Array.from({ length: 8 }, () => engine.model()));
    expect(new Set(models).size).toBe(1);
    expect(load).toHaveBeenCalledTimes(1);
    state.clock = 10_000;
    await engine.model();
    expect(readPointer).toHaveBeenCalledTimes(1);

    state.pointer = pointer('v2');
    state.clock = 31_000;
    expect((await engine.model()).version).toBe('v2');
    expect(load).toHaveBeenCalledTimes(2);
    expect(engine.loadedVersion).toBe('v2');
  });

  it('keeps serving the previous model when the new one cannot be loaded', async () => {
    const { engine, state } = setup(pointer('v1'));
    await engine.model();
    state.pointer = pointer('v2');
    state.broken.add('v2');
    state.clock = 40_000;
    expect((await engine.model()).version).toBe('v1');
    // …and does not retry on every request: only after the next interval.
    state.broken.clear();
    state.clock = 50_000;
    expect((await engine.model()).version).toBe('v1');
    state.clock = 71_000;
    expect((await engine.model()).version).toBe('v2');
  });

  it('stops serving when the active-model pointer is withdrawn', async () => {
    const { engine, state } = setup(pointer('v1'));
    expect((await engine.model()).version).toBe('v1');
    state.pointer = null;
    state.clock = 31_000;
    await expect(engine.model()).rejects.toMatchObject({ code: 'failed-precondition' });
    expect(engine.loadedVersion).toBeNull();
  });

  it('reports a load failure without a previous model as unavailable', async () => {
    const { engine, state } = setup(pointer('v1'));
    state.broken.add('v1');
    await expect(engine.model()).rejects.toMatchObject({ code: 'unavailable' });
  });
});

describe('ModelEngine under a cold-start storm (issue 20, finding 22)', () => {
  /** An engine whose loads finish only when the test says so; waits are fake-timer driven. */
  function gated() {
    const gates: { version: string; open: () => void }[] = [];
    const state = { pointer: pointer('v1') as ActiveModelPointer | null, clock: 0 };
    const engine = new ModelEngine({
      readPointer: async () => state.pointer,
      load: (p) =>
        new Promise((resolve) =>
          gates.push({ version: p.version, open: () => resolve(fakeModel(p.version)) }),
        ),
      now: () => state.clock,
      recheckMs: () => 30_000,
      disposeDelayMs: 0,
      loadWaitMs: () => 20_000,
    });
    return { engine, gates, state };
  }

  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers unavailable in French with a retry delay past the wait, and the load goes on', async () => {
    const { engine, gates } = gated();
    const waiting = Array.from({ length: 5 }, () => engine.model().catch((e: unknown) => e));
    await vi.advanceTimersByTimeAsync(20_000);
    const answers = await Promise.all(waiting);
    for (const err of answers) {
      expect(err).toBeInstanceOf(HttpsError);
      expect(err).toMatchObject({
        code: 'unavailable',
        message: MODEL_LOADING_MESSAGE_FR,
        details: { retryAfterSeconds: MODEL_LOADING_RETRY_SECONDS },
      });
    }
    // One load for all of them, still running: the next request gets its model.
    expect(gates).toHaveLength(1);
    const next = engine.model();
    gates[0]?.open();
    expect((await next).version).toBe('v1');
  });

  it('serves a request whose model arrives within the wait', async () => {
    const { engine, gates } = gated();
    const waiting = engine.model();
    await vi.advanceTimersByTimeAsync(19_000);
    gates[0]?.open();
    expect((await waiting).version).toBe('v1');
  });

  it('keeps serving the loaded model while a newer one takes longer than the wait', async () => {
    const { engine, gates, state } = gated();
    const first = engine.model();
    await vi.advanceTimersByTimeAsync(0);
    gates[0]?.open();
    await first;
    state.pointer = pointer('v2');
    state.clock = 31_000;
    const during = engine.model();
    await vi.advanceTimersByTimeAsync(20_000);
    expect((await during).version).toBe('v1');
    gates[1]?.open();
    await vi.advanceTimersByTimeAsync(0);
    expect(engine.loadedVersion).toBe('v2');
  });
});

describe('servingModel (issue 20, finding 14)', () => {
  const rejection = () => new ImageRejection('corrupt', "L'image est illisible ou endommagée.");
  const serving = (predict: () => Promise<never>) =>
    servingModel(
      'v1',
      { predict, dispose: () => {} },
      {
        matches: (err) => err instanceof ImageDecodeError,
        rejection,
      },
    );

  it('turns a photo the model cannot decode into the inspector’s French rejection', async () => {
    const model = serving(() => decodeToRgb(Buffer.from('pas une image')) as Promise<never>);
    await expect(model.predict(new Uint8Array(4))).rejects.toEqual(rejection());
  });

  it('keeps any other model failure as it is (it becomes internal)', async () => {
    const failure = new Error('tensor shape mismatch');
    const model = serving(() => Promise.reject(failure));
    await expect(model.predict(new Uint8Array(4))).rejects.toBe(failure);
  });
});

describe('parsePointer', () => {
  it('accepts the documented shape and refuses paths outside models/', () => {
    expect(parsePointer({ version: 'v1', storagePrefix: 'models/v1/' })).toEqual(pointer('v1'));
    expect(parsePointer({ version: 'v1' })).toEqual(pointer('v1'));
    expect(parsePointer({ version: 'v1', storagePrefix: 'users/x/' })).toBeNull();
    expect(parsePointer({ version: '../x' })).toBeNull();
    expect(parsePointer(undefined)).toBeNull();
  });
});
