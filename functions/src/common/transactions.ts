import type { Firestore, Transaction } from 'firebase-admin/firestore';

/**
 * Firestore answers a transaction that lost a contention race with ABORTED (gRPC 10: "Too much
 * contention", the emulator's "Transaction lock timeout"), and a transaction the backend has
 * already closed because of it with INVALID_ARGUMENT "Transaction is invalid or closed" (or
 * "has expired"). Either way, running the whole transaction again from scratch is right.
 */
export function isContentionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (code === 10) return true;
  return (
    code === 3 &&
    typeof message === 'string' &&
    /transaction (is invalid or closed|has expired)/i.test(message)
  );
}

export interface ContentionOptions {
  /** Give up (rethrow the last contention error) once this much time has passed. */
  deadlineMs?: number;
  /** Cap of the first retry delay; doubled per attempt up to maxDelayMs (full jitter). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Milliseconds clock the deadline is measured on (default Date.now). */
  now?: () => number;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs a read-write transaction built to survive contention on hot documents (one user's
 * quota hit 40 times at once, one upload delivered three times at once). Each attempt is a
 * brand-new transaction (maxAttempts 1): the client library's own retry reuses the aborted
 * transaction's id, which the backend may already have closed, and its few attempts with a
 * short backoff all collide again. Here contenders are spread by exponential backoff with full
 * jitter until a deadline, so a burst is serialised instead of failed. `update` may run several
 * times: it must only read through `tx` and return what it decided.
 */
export async function runContendedTransaction<T>(
  db: Firestore,
  update: (tx: Transaction) => Promise<T>,
  options: ContentionOptions = {},
): Promise<T> {
  const deadlineMs = options.deadlineMs ?? 20_000;
  const baseDelayMs = options.baseDelayMs ?? 20;
  const maxDelayMs = options.maxDelayMs ?? 1_000;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const started = now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await db.runTransaction(update, { maxAttempts: 1 });
    } catch (err) {
      if (!isContentionError(err) || now() - started >= deadlineMs) throw err;
      await sleep(random() * Math.min(maxDelayMs, baseDelayMs * 2 ** attempt));
    }
  }
}
