import { describe, expect, it } from 'vitest';
import {
  DeadlineExceededError,
  isTransientError,
  retryTransient,
  withDeadline,
} from './transient.js';
import { connectionResetError } from '../../../tests/helpers/connection-reset.js';

describe('isTransientError', () => {
  it('recognises a real socket reset, wrapped in its cause', async () => {
    const err = await connectionResetError();
    expect(err).toBeInstanceOf(TypeError);
    expect(isTransientError(err)).toBe(true);
  });

  it('recognises Firestore gRPC codes and Storage HTTP statuses that may pass', () => {
    expect(isTransientError(Object.assign(new Error('14 UNAVAILABLE'), { code: 14 }))).toBe(true);
    expect(isTransientError(Object.assign(new Error('4 DEADLINE'), { code: 4 }))).toBe(true);
    expect(isTransientError(Object.assign(new Error('Service Unavailable'), { code: 503 }))).toBe(
      true,
    );
    expect(
      isTransientError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })),
    ).toBe(true);
  });

  it('leaves permanent failures alone', () => {
    expect(isTransientError(new Error('bug'))).toBe(false);
    expect(isTransientError(Object.assign(new Error('not found'), { code: 404 }))).toBe(false);
    expect(isTransientError(Object.assign(new Error('7 PERMISSION_DENIED'), { code: 7 }))).toBe(
      false,
    );
    expect(isTransientError(Object.assign(new Error('3 INVALID_ARGUMENT'), { code: 3 }))).toBe(
      false,
    );
    expect(isTransientError(null)).toBe(false);
    expect(isTransientError('ECONNRESET')).toBe(false);
  });
});

describe('retryTransient', () => {
  const noSleep = () => Promise.resolve();

  it('retries transient failures until the operation passes', async () => {
    let calls = 0;
    const result = await retryTransient(
      async () => {
        calls++;
        if (calls < 3) throw await connectionResetError();
        return 'ok';
      },
      { attempts: 4, baseDelayMs: 10, sleep: noSleep },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(3);
  });

  it('gives up after the last attempt and rethrows the original error', async () => {
    let calls = 0;
    const unavailable = Object.assign(new Error('14 UNAVAILABLE'), { code: 14 });
    await expect(
      retryTransient(
        () => {
          calls++;
          return Promise.reject(unavailable);
        },
        { attempts: 3, baseDelayMs: 10, sleep: noSleep },
      ),
    ).rejects.toBe(unavailable);
    expect(calls).toBe(3);
  });

  it('never retries a permanent failure', async () => {
    let calls = 0;
    await expect(
      retryTransient(
        () => {
          calls++;
          return Promise.reject(new Error('bug'));
        },
        { attempts: 5, baseDelayMs: 10, sleep: noSleep },
      ),
    ).rejects.toThrow('bug');
    expect(calls).toBe(1);
  });

  it('caps each delay and reports it to onRetry', async () => {
    const reported: number[] = [];
    const slept: number[] = [];
    await retryTransient(
      async () => {
        if (slept.length < 5) throw Object.assign(new Error('503'), { code: 503 });
        return undefined;
      },
      {
        attempts: 6,
        baseDelayMs: 100,
        maxDelayMs: 300,
        random: () => 1,
        onRetry: (_attempt, _err, delayMs) => reported.push(delayMs),
        sleep: (ms) => {
          slept.push(ms);
          return Promise.resolve();
        },
      },
    );
    expect(slept).toEqual([100, 200, 300, 300, 300]);
    expect(reported).toEqual(slept);
  });

  it('backs off exponentially between attempts', async () => {
    const delays: number[] = [];
    await retryTransient(
      async () => {
        if (delays.length < 3) throw Object.assign(new Error('503'), { code: 503 });
        return undefined;
      },
      {
        attempts: 4,
        baseDelayMs: 100,
        sleep: (ms) => {
          delays.push(ms);
          return Promise.resolve();
        },
      },
    );
    expect(delays).toHaveLength(3);
    expect(delays[0]).toBeGreaterThanOrEqual(50);
    expect(delays[0]).toBeLessThanOrEqual(100);
    expect(delays[2]).toBeGreaterThanOrEqual(200);
    expect(delays[2]).toBeLessThanOrEqual(400);
  });
});

describe('withDeadline', () => {
  it('passes a prompt answer through', async () => {
    await expect(withDeadline(Promise.resolve(42), 1000, 'quick')).resolves.toBe(42);
  });

  it('turns a hanging operation into a transient deadline error', async () => {
    const hanging = new Promise<never>(() => {});
    const err: unknown = await withDeadline(hanging, 30, 'quota').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(isTransientError(err)).toBe(true);
    expect((err as Error).message).toMatch(/quota: no answer within 30 ms/);
  });

  it('keeps the operation’s own failure', async () => {
    await expect(withDeadline(Promise.reject(new Error('bug')), 1000, 'x')).rejects.toThrow('bug');
  });
});
