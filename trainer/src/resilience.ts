/**
 * The trainer's one retry policy for Storage and Firestore (the shared transient-failure rules
 * of @wildlens/shared): a run takes minutes and thousands of requests, so one dropped connection
 * or a busy backend must cost a retry, not the run. Every retry is logged (`trainer.retry`).
 *
 * Storage goes through `resilientBucket`, the only bucket handle the trainer's code gets: each
 * download and write is retried and bounded by a per-attempt deadline. The Storage SDK's own
 * retries are switched off (trainerBucket) so that there is one policy, logged, and because
 * the SDK never retries a write without preconditions. Firestore calls go through `retry` at
 * their call site; the SDK already retries its reads and transactions on UNAVAILABLE or
 * ABORTED, this bounds and logs what outlasts those.
 *
 * Every operation retried here is idempotent: Storage objects have deterministic names
 * (embeddings by image hash, models by version) and are rewritten whole, Firestore writes set
 * fields to values, and the run's transactions re-read before deciding.
 */
import { BATCH_JOB_RETRY, retryTransient, withDeadline, type RetryOptions } from '@wildlens/shared';

/**
 * How long one Storage request may take before it is abandoned and retried: a response cut
 * mid-body never settles in @google-cloud/storage 7. Objects are at most a few MB (photos,
 * embeddings, model files): far below this even on a slow link.
 */
export const STORAGE_ATTEMPT_TIMEOUT_MS = 120_000;

export type TrainerLog = (event: string, data?: Record<string, unknown>) => void;

/** Runs an idempotent Storage or Firestore operation under the policy; `operation` names it in logs. */
export type Retry = <T>(operation: string, fn: () => Promise<T>) => Promise<T>;

export function trainerRetry(log: TrainerLog, options: RetryOptions = BATCH_JOB_RETRY): Retry {
  return (operation, fn) =>
    retryTransient(fn, {
      ...options,
      onRetry: (attempt, err, delayMs) =>
        log('trainer.retry', {
          operation,
          attempt,
          of: options.attempts,
          delayMs: Math.round(delayMs),
          error: err instanceof Error ? err.message : String(err),
          code: (err as { code?: unknown } | null)?.code ?? null,
        }),
    });
}

/** A Storage object as the trainer uses it. */
export interface TrainerFile {
  download(): Promise<[Buffer]>;
  save(data: Buffer, options: { contentType: string }): Promise<void>;
  /** Deletes the object; one already gone is fine. */
  delete(): Promise<void>;
}

/** The bucket as the trainer uses it: nothing else can be called, so nothing escapes the policy. */
export interface TrainerBucket {
  file(name: string): TrainerFile;
}

/** The part of the Admin SDK's bucket wrapped here. */
export interface RawBucket {
  file(name: string): {
    download(): Promise<[Buffer]>;
    save(data: Buffer, options: { resumable: false; contentType: string }): Promise<void>;
    delete(): Promise<unknown>;
  };
}

/** Storage's answer for an object that does not exist. */
export function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 404;
}

export function resilientBucket(
  bucket: RawBucket,
  retry: Retry,
  attemptTimeoutMs = STORAGE_ATTEMPT_TIMEOUT_MS,
): TrainerBucket {
  return {
    file(name) {
      const raw = bucket.file(name);
      return {
        download: () =>
          retry(`storage.download ${name}`, () =>
            withDeadline(raw.download(), attemptTimeoutMs, `download ${name}`),
          ),
        save: (data, options) =>
          retry(`storage.save ${name}`, () =>
            withDeadline(
              raw.save(data, { resumable: false, contentType: options.contentType }),
              attemptTimeoutMs,
              `save ${name}`,
            ),
          ),
        delete: () =>
          retry(`storage.delete ${name}`, () =>
            withDeadline(
              raw.delete().then(
                () => undefined,
                (err: unknown) => {
                  if (!isNotFound(err)) throw err;
                },
              ),
              attemptTimeoutMs,
              `delete ${name}`,
            ),
          ),
      };
    },
  };
}
