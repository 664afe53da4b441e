import type { Firestore } from 'firebase-admin/firestore';
import { describe, expect, it } from 'vitest';
import { isContentionError, runContendedTransaction } from './transactions.js';

const aborted = () =>
  Object.assign(new Error('10 ABORTED: Transaction lock timeout.'), { code: 10 });
const closed = () =>
  Object.assign(new Error('3 INVALID_ARGUMENT: Transaction is invalid or closed'), { code: 3 });

/** A Firestore whose runTransaction fails with the given errors first, then runs `update`. */
function flaky(failures: Error[]) {
  const attempts: { maxAttempts?: number }[] = [];
  const db = {
    runTransaction: async (
      update: (tx: unknown) => Promise<unknown>,
      options: { maxAttempts?: number },
    ) => {
      attempts.push(options);
      const failure = failures.shift();
      if (failure) throw failure;
      return update({});
    },
  } as unknown as Firestore;
  return { db, attempts };
}

describe('runContendedTransaction', () => {
  it('recognises contention, and only contention', () => {
    expect(isContentionError(aborted())).toBe(true);
    expect(isContentionError(closed())).toBe(true);
    expect(
      isContentionError(Object.assign(new Error('3 INVALID_ARGUMENT: bad'), { code: 3 })),
    ).toBe(false);
    expect(isContentionError(new Error('bug'))).toBe(false);
  });

  it('starts a fresh single-attempt transaction after each contention, with jittered backoff', async () => {
    const { db, attempts } = flaky([aborted(), closed(), aborted()]);
    const delays: number[] = [];
    const result = await runContendedTransaction(db, async () => 'done', {
      baseDelayMs: 10,
      sleep: async (ms) => void delays.push(ms),
      random: () => 0.5,
      now: () => 0, // the deadline never passes, however slow the machine
    });
    expect(result).toBe('done');
    expect(attempts).toEqual(Array(4).fill({ maxAttempts: 1 }));
    expect(delays).toEqual([5, 10, 20]);
  });

  it('rethrows other failures at once, and contention past the deadline', async () => {
    const bug = new Error('bug');
    await expect(runContendedTransaction(flaky([bug]).db, async () => 1)).rejects.toBe(bug);
    const last = aborted();
    await expect(
      runContendedTransaction(flaky([aborted(), last]).db, async () => 1, {
        deadlineMs: 0,
        sleep: async () => {},
      }),
    ).rejects.toMatchObject({ code: 10 });
  });
});
