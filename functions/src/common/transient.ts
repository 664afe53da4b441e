/**
 * Transient failures: the backend (Firestore, Cloud Storage) or the network hiccupped, and the
 * same request may well succeed a moment later. Anything else (bad input, permission, a bug) is
 * permanent and must not be retried.
 */

// gRPC status codes (Firestore): UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED when a stream was
// cut under us, and ABORTED when a transaction lost to contention for longer than its own
// retries (running the idempotent operation again is exactly what ABORTED asks for).
const TRANSIENT_GRPC_CODES = new Set([14, 4, 1, 10]);
// HTTP statuses (Cloud Storage JSON API and its emulator).
const TRANSIENT_HTTP_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
// Socket-level failures (node-fetch/gaxios FetchError, http errors).
const TRANSIENT_SOCKET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);

export function isTransientError(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 3) return false;
  const { code, errno, cause } = err as { code?: unknown; errno?: unknown; cause?: unknown };
  if (typeof code === 'number') {
    // Storage errors carry the HTTP status, Firestore errors the gRPC code: 1/4/14 are not
    // HTTP statuses, so one set cannot be mistaken for the other.
    if (TRANSIENT_HTTP_STATUSES.has(code) || TRANSIENT_GRPC_CODES.has(code)) return true;
  }
  if (typeof code === 'string' && TRANSIENT_SOCKET_CODES.has(code)) return true;
  if (typeof errno === 'string' && TRANSIENT_SOCKET_CODES.has(errno)) return true;
  return isTransientError(cause, depth + 1);
}

export interface RetryOptions {
  /** Total attempts, the first included. */
  attempts: number;
  /** Delay before the 2nd attempt; doubled each time, with jitter. */
  baseDelayMs: number;
  sleep?: (ms: number) => Promise<void>;
  onRetry?: (attempt: number, err: unknown) => void;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs an idempotent operation, retrying it on transient failures only. The last error is
 * rethrown as is, so callers (and the platform's own event retries) still see it.
 */
export async function retryTransient<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const sleep = options.sleep ?? defaultSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= options.attempts || !isTransientError(err)) throw err;
      options.onRetry?.(attempt, err);
      const delay = options.baseDelayMs * 2 ** (attempt - 1);
      await sleep(delay / 2 + Math.random() * (delay / 2));
    }
  }
}

/** How long a user request waits for one Firestore operation before answering `unavailable`. */
export const FIRESTORE_DEADLINE_MS = 15_000;

/** The error of an operation that outlived its deadline: transient (gRPC DEADLINE_EXCEEDED). */
export class DeadlineExceededError extends Error {
  readonly code = 4;
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms} ms`);
    this.name = 'DeadlineExceededError';
  }
}

/**
 * Bounds how long a request waits for a backend. Firestore's client retries an unreachable
 * backend for minutes (a default transaction ~4 min, a write up to 10 min), far past a
 * function's timeout, where the platform would kill the request with a bare `internal`. The
 * operation itself is not cancelled: callers must be able to live with it landing late.
 */
export async function withDeadline<T>(operation: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      operation,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DeadlineExceededError(what, ms)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
