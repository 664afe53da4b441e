/**
 * syncOfflineObservations (issue 22, item 5): the observations a hiker made with no network,
 * identified on the device by the offline bundle, sent later in batches of up to 20.
 *
 * Each item becomes an observation of the caller exactly as identifyFootprint records one
 * (recordIdentification: same record, photos, review candidate, erasure marker), so history,
 * getObservation, the dialogue, consent and erasure treat it like any other. The photo is
 * identified again with the current model, which gives the record its answer; the device's
 * answer is kept beside it (`offline`), never in its place.
 *
 * Idempotent by the device's id: the record's id is derived from the uid and `clientId`, and
 * it is created in a transaction that first reads it (onlyIfAbsent). A retried batch finds its
 * records and reports them `already_stored` without spending quota; two calls racing with the
 * same item both identify it, one creates the record, the other finds it in its transaction,
 * deletes the photos it had written (named by the attempt, never shared) and gives its
 * identification back to the quota.
 *
 * Items are processed one after the other, so the quota runs out at a definite item: that one
 * and every later one are refused (`quota`), the earlier ones kept. Each item reports its own
 * outcome; only an erased account (or a malformed batch) fails the whole call.
 */
import { createHash, randomUUID } from 'node:crypto';
import { FieldValue, Timestamp, type DocumentData } from 'firebase-admin/firestore';
import { HttpsError } from 'firebase-functions/https';
import type { z } from 'zod/v4';
import * as logger from 'firebase-functions/logger';
import { COLLECTIONS } from '@wildlens/shared';
import type { Caller } from '../common/caller.js';
import { errorSummary } from '../common/errors.js';
import {
  clientIdSchema,
  parseInput,
  syncOfflineObservationItem,
  syncOfflineObservationsEnvelope,
  type SyncOfflineObservationInput,
} from '../api/schemas.js';
import { recordIdentification, type IdentifyDeps, type Verdict } from './identify.js';
import { serveCharged, unserved, type IdentifyCharge } from './rate-limit.js';

export interface OfflineSyncDeps extends IdentifyDeps {
  /** Spends one identification of the caller's budget per photo (rate-limit.ts). */
  consumeBudget: (caller: Caller) => Promise<IdentifyCharge>;
}

/** Why an item was refused: its own fault (`invalid`, `photo`) or the call's (the rest). */
export type SyncRefusalReason = 'invalid' | 'photo' | 'quota' | 'unavailable' | 'internal';

/** The server's answer on a synced observation (stored now or earlier). */
export interface SyncedObservation {
  observationId: string;
  verdict: Verdict;
  top: { speciesId: string; probability: number }[];
  candidates: { speciesIds: string[]; coverage: number | null };
  model: { version: string };
  /** The server's most probable species is the device's. */
  sameTopSpecies: boolean;
}

export type SyncItemOutcome =
  | { index: number; clientId: string; status: 'stored'; observation: SyncedObservation }
  | { index: number; clientId: string; status: 'already_stored'; observation: SyncedObservation }
  | {
      index: number;
      clientId: string | null;
      status: 'refused';
      reason: SyncRefusalReason;
      /** French, shown as is. */
      message: string;
      /** The image refusal's code (`corrupt`, `too_small`…) when reason is `photo`. */
      photoReason?: string;
      /** When to send the refused items again (`quota`, `unavailable`). */
      retryAfterSeconds?: number;
    };

export interface SyncResponse {
  items: SyncItemOutcome[];
  stored: number;
  alreadyStored: number;
  refused: number;
}

const INTERNAL_FR = 'Erreur interne sur cette observation : renvoyez-la plus tard.';

/** The record's id: one per account and device id, so a retry finds what an attempt stored. */
export function syncedObservationId(uid: string, clientId: string): string {
  // JSON keeps the two apart whatever characters a uid holds.
  return createHash('sha256')
    .update(JSON.stringify(['offline-sync', uid, clientId]))
    .digest('hex')
    .slice(0, 32);
}

function summary(id: string, record: DocumentData): SyncedObservation {
  const top = (record.top as SyncedObservation['top'] | undefined) ?? [];
  const device = (record.offline as { top?: { speciesId: string }[] } | undefined)?.top ?? [];
  return {
    observationId: id,
    verdict: record.verdict as Verdict,
    top,
    candidates: (record.candidates as SyncedObservation['candidates'] | undefined) ?? {
      speciesIds: [],
      coverage: null,
    },
    model: { version: String((record.model as { version?: unknown } | undefined)?.version) },
    sameTopSpecies: top[0]?.speciesId !== undefined && top[0].speciesId === device[0]?.speciesId,
  };
}

/** The record's `offline` field: the device's answer, as it was given. */
function offlineAnswer(item: SyncOfflineObservationInput): DocumentData {
  const { onDevice } = item;
  return {
    clientId: item.clientId,
    bundleVersion: onDevice.bundleVersion,
    verdict: onDevice.verdict,
    top: onDevice.top,
    domain: onDevice.domain ?? null,
    oodScore: onDevice.oodScore ?? null,
    identifiedAt: Timestamp.fromDate(onDevice.identifiedAt),
    syncedAt: FieldValue.serverTimestamp(),
  };
}

type Refusal = Extract<SyncItemOutcome, { status: 'refused' }>;

/** An item's failure as its outcome; `stop`: the later items are refused alike. */
function refusalOf(err: unknown): { refusal: Omit<Refusal, 'index' | 'clientId'>; stop: boolean } {
  if (err instanceof HttpsError) {
    const details = (err.details ?? {}) as { reason?: unknown; retryAfterSeconds?: unknown };
    const retry =
      typeof details.retryAfterSeconds === 'number'
        ? { retryAfterSeconds: details.retryAfterSeconds }
        : {};
    if (err.code === 'invalid-argument') {
      return typeof details.reason === 'string'
        ? {
            refusal: {
              status: 'refused',
              reason: 'photo',
              message: err.message,
              photoReason: details.reason,
            },
            stop: false,
          }
        : { refusal: { status: 'refused', reason: 'invalid', message: err.message }, stop: false };
    }
    if (err.code === 'resource-exhausted') {
      return {
        refusal: { status: 'refused', reason: 'quota', message: err.message, ...retry },
        stop: true,
      };
    }
  }
  if (unserved(err)) {
    const message =
      err instanceof HttpsError
        ? err.message
        : 'Service momentanément indisponible. Réessayez dans quelques instants.';
    const retryAfterSeconds =
      err instanceof HttpsError &&
      typeof (err.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds ===
        'number'
        ? (err.details as { retryAfterSeconds: number }).retryAfterSeconds
        : 10;
    return {
      refusal: { status: 'refused', reason: 'unavailable', message, retryAfterSeconds },
      stop: true,
    };
  }
  return { refusal: { status: 'refused', reason: 'internal', message: INTERNAL_FR }, stop: false };
}

function missingIdMessage(raw: unknown, error: z.ZodError): string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return 'Observation invalide : un objet { clientId, photo, takenAt, onDevice… } est attendu.';
  if ((raw as { clientId?: unknown }).clientId === undefined)
    return 'clientId manquant : chaque observation porte l’identifiant que l’appareil lui a donné.';
  return error.issues[0]?.message ?? 'clientId invalide.';
}

/** Stores the caller's offline observations; reports each one (see the module comment). */
export async function syncOfflineObservations(
  caller: Caller,
  data: unknown,
  deps: OfflineSyncDeps,
): Promise<SyncResponse> {
  const { observations } = parseInput(syncOfflineObservationsEnvelope, data) as {
    observations: unknown[];
  };
  const itemSchema = syncOfflineObservationItem({ maxBytes: deps.limits.maxBytes }, () =>
    deps.now(),
  );
  const collection = deps.db
    .collection(COLLECTIONS.users)
    .doc(caller.uid)
    .collection(COLLECTIONS.observations);
  const items: SyncItemOutcome[] = [];
  /** Set once the quota or the service refused an item: every later item gets the same. */
  let stopped: Omit<Refusal, 'index' | 'clientId'> | null = null;

  for (const [index, raw] of observations.entries()) {
    const rawId = (raw as { clientId?: unknown } | null)?.clientId;
    const idCheck = clientIdSchema.safeParse(rawId);
    if (!idCheck.success) {
      // No id, nothing to store it under: refused before anything is decoded or spent.
      items.push({
        index,
        clientId: null,
        status: 'refused',
        reason: 'invalid',
        message: missingIdMessage(raw, idCheck.error),
      });
      continue;
    }
    const clientId = idCheck.data;
    if (stopped) {
      items.push({ index, clientId, ...stopped });
      continue;
    }
    const ref = collection.doc(syncedObservationId(caller.uid, clientId));
    try {
      const existing = await ref.get();
      if (existing.exists) {
        items.push({
          index,
          clientId,
          status: 'already_stored',
          observation: summary(ref.id, existing.data() ?? {}),
        });
        continue;
      }
      // As identifyFootprint: the budget before the photo is decoded.
      const charge = await deps.consumeBudget(caller);
      const outcome = await serveCharged(charge, async () => {
        const item = parseInput(itemSchema, raw);
        return recordIdentification(
          caller,
          {
            photo: item.photo,
            region: item.region ?? null,
            location: item.location ?? null,
            takenAt: item.takenAt,
            shareForTraining: item.shareForTraining ?? false,
          },
          deps,
          {
            ref,
            // Named by the attempt: a concurrent duplicate never writes these objects.
            photoId: randomUUID().replace(/-/g, '').slice(0, 20),
            extra: { offline: offlineAnswer(item) },
            onlyIfAbsent: true,
          },
        );
      });
      if (outcome.status === 'present') {
        // A concurrent call with the same item stored it: this identification was not needed.
        await charge.refund().catch((err: unknown) => {
          logger.warn('offline_sync.refund_failed', errorSummary(err));
        });
      }
      items.push({
        index,
        clientId,
        status: outcome.status === 'stored' ? 'stored' : 'already_stored',
        observation: summary(ref.id, outcome.record),
      });
    } catch (err) {
      // The account's erasure has begun (or its session is gone): nothing more is stored.
      if (err instanceof HttpsError && err.code === 'unauthenticated') throw err;
      const { refusal, stop } = refusalOf(err);
      if (refusal.reason === 'internal') {
        logger.error('offline_sync.item_failed', { uid: caller.uid, index, ...errorSummary(err) });
      }
      items.push({ index, clientId, ...refusal });
      if (stop) stopped = refusal;
    }
  }

  const count = (status: SyncItemOutcome['status']) =>
    items.filter((i) => i.status === status).length;
  const response: SyncResponse = {
    items,
    stored: count('stored'),
    alreadyStored: count('already_stored'),
    refused: count('refused'),
  };
  logger.info('offline_sync.done', {
    uid: caller.uid,
    stored: response.stored,
    alreadyStored: response.alreadyStored,
    refused: response.refused,
    reasons: items.flatMap((i) => (i.status === 'refused' ? [i.reason] : [])),
  });
  return response;
}
