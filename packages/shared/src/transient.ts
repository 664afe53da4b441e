/**
 * Transient failures: the backend (Firestore, Cloud Storage) or the network hiccupped, and the
 * same request may well succeed a moment later. Anything else (bad input, permission, a bug) is
 * permanent and must not be retried. The one retry policy of the functions (ingestion) and the
 * trainer (every Storage and Firestore call of a run).
 */

// gRPC status codes (Firestore): UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED when a stream was
// cut under us, RESOURCE_EXHAUSTED (Firestore's 429), and ABORTED when a transaction lost to
// contention for longer than its own retries (running the idempotent operation again is
// exactly what ABORTED asks for).
const TRANSIENT_GRPC_CODES = new Set([14, 4, 1, 8, 10]);
// HTTP statuses (Cloud Storage JSON API and its emulator).
const TRANSIENT_HTTP_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
// Socket-level failures: node-fetch's FetchError (what the Storage SDK throws when a connection
// drops: "socket hang up" carries ECONNRESET), undici's and node's own.
const TRANSIENT_SOCKET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

export function isTransientError(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 3) return false;
  const { code, errno, cause } = err as { code?: unknown; errno?: unknown; cause?: unknown };
  if (typeof code === 'number') {
    // Storage errors carry the HTTP status, Firestore errors the gRPC code: 1/4/8/10/14 are not
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
  /** Delay before the 2nd attempt; doubled each time (capped by maxDelayMs), with jitter. */
  baseDelayMs: number;
  /** Cap of one delay (default: no cap). */
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Uniform [0, 1) draws of the jitter (default Math.random). */
  random?: () => number;
  /** Called before each new attempt with the failed attempt's number and the delay chosen. */
  onRetry?: (attempt: number, err: unknown, delayMs: number) => void;
}

/**
 * The policy of long batch jobs (a training run, a dataset import): thousands of requests over
 * minutes, where one dropped connection must cost a retry, not the job. ~1 minute of trying
 * (delays 0.5 s … 20 s, 8 attempts) before a failure is final.
 */
export const BATCH_JOB_RETRY: RetryOptions = { attempts: 8, baseDelayMs: 500, maxDelayMs: 20_000 };

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The delay before attempt `attempt + 1`: exponential, capped, jittered in [½, 1] of it. */
export function retryDelayMs(attempt: number, options: RetryOptions, draw: number): number {
  const delay = Math.min(options.maxDelayMs ?? Infinity, options.baseDelayMs * 2 ** (attempt - 1));
  return delay / 2 + draw * (delay / 2);
}

/**
 * Runs an idempotent operation, retrying it on transient failures only. The last error is
 * rethrown as is, so callers (and the platform's own event retries) still see it.
 */
export async function retryTransient<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= options.attempts || !isTransientError(err)) throw err;
      const delay = retryDelayMs(attempt, options, random());
      options.onRetry?.(attempt, err, delay);
      await sleep(delay);
    }
  }
}

/** The error of an operation that outlived its deadline: transient (gRPC DEADLINE_EXCEEDED). */
export class DeadlineExceededError extends Error {
  readonly code = 4;
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms} ms`);
    this.name = 'DeadlineExceededError';
  }
}

/**
 * Bounds how long a caller waits for a backend. Firestore's client retries an unreachable
 * backend for minutes (a default transaction ~4 min, a write up to 10 min), and a Storage
 * download whose response is cut mid-body never settles (@google-cloud/storage 7). The
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
