import { HttpsError, type FunctionsErrorCode } from 'firebase-functions/https';
import * as logger from 'firebase-functions/logger';
import { isTransientError } from './transient.js';

/** What a user is told while Firestore or Storage cannot be reached (callables and HTTP). */
export const UNAVAILABLE_MESSAGE_FR =
  'Service momentanément indisponible. Réessayez dans quelques instants.';

/** Throws an HttpsError with a French message meant for the end user. */
export function fail(code: FunctionsErrorCode, messageFr: string, details?: unknown): never {
  throw new HttpsError(code, messageFr, details);
}

/**
 * Runs a callable body: HttpsErrors pass through untouched; a backend outage (Firestore or
 * Storage unreachable) becomes `unavailable`, which clients may retry; anything else is logged
 * with its stack and becomes a bare `internal` error so no internal detail reaches the client.
 */
export async function guarded<T>(event: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof HttpsError) throw err;
    if (isTransientError(err)) {
      logger.warn(`${event}.unavailable`, { error: errorSummary(err) });
      throw new HttpsError('unavailable', UNAVAILABLE_MESSAGE_FR);
    }
    logger.error(`${event}.failed`, { error: errorSummary(err) });
    throw new HttpsError('internal', 'Une erreur interne est survenue. Réessayez plus tard.');
  }
}

export function errorSummary(err: unknown): { message: string; stack?: string } {
  if (err instanceof Error) return { message: err.message, stack: err.stack };
  return { message: String(err) };
}
