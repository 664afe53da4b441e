/**
 * The transient-failure policy lives in @wildlens/shared (shared with the trainer); the
 * functions' own bound on a user request's wait for Firestore is here.
 */
export {
  DeadlineExceededError,
  isTransientError,
  retryTransient,
  withDeadline,
  type RetryOptions,
} from '@wildlens/shared';

/** How long a user request waits for one Firestore operation before answering `unavailable`. */
export const FIRESTORE_DEADLINE_MS = 15_000;
