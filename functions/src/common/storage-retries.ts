/**
 * The functions' Storage client retries a dropped connection on every request, writes and
 * deletes included. The SDK's default (`RetryConditional`) retries only reads and writes made
 * with preconditions, so one reset connection (the emulator resets reused idle connections
 * under load; Cloud Storage may drop one too) failed a whole user request: deleteObservation
 * answered `unavailable` in CI (stop 28) because one object's delete was not retried.
 *
 * Retrying everything is safe here because every Storage write of the functions is
 * idempotent: a hiker's photo goes under a new name, every other object under a deterministic
 * name rewritten whole (training copies, ingestion's incoming copies, bundles), and deletes
 * take « already gone » as done. The SDK's retries come first; ingestion's own policy
 * (retryTransient) only sees a failure that outlasted them.
 */
import { IdempotencyStrategy } from '@google-cloud/storage';
import type { Bucket } from '../firebase.js';

/**
 * How long the SDK keeps retrying one request (its default is 10 minutes): a user request
 * answers `unavailable` well within a function's 60 s timeout when Storage stays unreachable.
 */
export const STORAGE_RETRY_SECONDS = 15;

/** Switches the bucket's Storage client (shared by its buckets) to retry every request. */
export function retryEveryStorageRequest(bucket: Bucket): Bucket {
  const options = bucket.storage.retryOptions;
  options.autoRetry = true;
  options.idempotencyStrategy = IdempotencyStrategy.RetryAlways;
  options.totalTimeout = STORAGE_RETRY_SECONDS;
  return bucket;
}
