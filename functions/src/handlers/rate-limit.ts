import { FieldPath, FieldValue, type Firestore, type Timestamp } from 'firebase-admin/firestore';
import { COLLECTIONS } from '@wildlens/shared';
import type { Caller } from '../common/caller.js';
import { fail } from '../common/errors.js';
import { FIRESTORE_DEADLINE_MS, withDeadline } from '../common/transient.js';
import { refuseIfErasedAfterWrite } from './erasure-marker.js';

export interface RateLimits {
  perMinute: number;
  perDay: number;
}

export interface IdentifyQuotaPolicy {
  signedIn: RateLimits;
  anonymous: RateLimits;
}

const secondsToNextMinute = (now: Date): number => 60 - (Math.floor(now.getTime() / 1000) % 60);

function secondsToNextUtcDay(now: Date): number {
  const tomorrow = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.ceil((tomorrow - now.getTime()) / 1000);
}

/** resource-exhausted, with the wait in details so /identify can send Retry-After. */
function exhausted(messageFr: string, retryAfterSeconds: number): never {
  fail('resource-exhausted', messageFr, { retryAfterSeconds });
}

/** Tickets outlive their UTC day by this much, then Firestore's TTL policy deletes them. */
const TICKET_TTL_MS = 2 * 86_400_000;

/**
 * Per-user identification quota (fixed windows: the current minute and the UTC day).
 *
 * Built for contention: a counter document updated in a transaction cannot take one user's
 * burst (40 concurrent calls all read it, all wait for each other's locks, and the emulator
 * answered `ABORTED: Transaction lock timeout` to nearly all of them). Instead each call writes
 * its own ticket (`rateLimits/{uid}/tickets/{auto id}`, a blind create that never contends),
 * stamped with the server's commit time, then counts the tickets of the same minute and day
 * committed before it. Firestore queries are strongly consistent, so that rank is exact: the
 * first `perMinute` tickets of a minute pass, and every later one is refused whatever the
 * interleaving. A refused call deletes its ticket (it consumed nothing): the first tickets of
 * a window are never deleted, so deletions cannot change anyone's decision.
 */
export async function consumeIdentifyQuota(
  db: Firestore,
  uid: string,
  now: Date,
  limits: RateLimits,
): Promise<void> {
  const tickets = db.collection(COLLECTIONS.rateLimits).doc(uid).collection('tickets');
  const ticket = tickets.doc();
  const minute = Math.floor(now.getTime() / 60_000);
  const day = now.toISOString().slice(0, 10);
  // Bounded: while Firestore is unreachable the caller gets a prompt `unavailable`.
  const verdict = await withDeadline(
    (async () => {
      await ticket.create({
        minute,
        day,
        at: FieldValue.serverTimestamp(),
        expireAt: new Date(now.getTime() + TICKET_TTL_MS),
      });
      // A ticket is the account's data too: one written after its erasure began is undone.
      const [written] = await Promise.all([
        ticket.get(),
        refuseIfErasedAfterWrite(db, uid, () => ticket.delete()),
      ]);
      const at = written.get('at') as Timestamp;
      /** Tickets of the window committed before this one (ties broken by id). */
      const rank = async (field: 'minute' | 'day', value: number | string) => {
        const [earlier, tied] = await Promise.all([
          tickets.where(field, '==', value).where('at', '<', at).count().get(),
          tickets
            .where(field, '==', value)
            .where('at', '==', at)
            .where(FieldPath.documentId(), '<', ticket.id)
            .count()
            .get(),
        ]);
        return earlier.data().count + tied.data().count;
      };
      const [minuteRank, dayRank] = await Promise.all([rank('minute', minute), rank('day', day)]);
      const refused =
        dayRank >= limits.perDay ? 'day' : minuteRank >= limits.perMinute ? 'minute' : null;
      if (refused) await ticket.delete();
      return refused ?? 'ok';
    })(),
    FIRESTORE_DEADLINE_MS,
    'identify quota',
  );
  if (verdict === 'minute') {
    const wait = secondsToNextMinute(now);
    exhausted(
      `Trop d’identifications en une minute (${limits.perMinute} au plus) : réessayez dans ${wait} s.`,
      wait,
    );
  }
  if (verdict === 'day') {
    exhausted(
      `Limite quotidienne atteinte (${limits.perDay} identifications) : réessayez demain.`,
      secondsToNextUtcDay(now),
    );
  }
}

/**
 * Ceiling of one instance, whoever the callers are: a fixed one-minute window in memory, free
 * to check. With the function's maxInstances it bounds the whole service
 * (maxInstances × perMinute identifications a minute), which no number of fresh accounts can
 * get around.
 */
export class InstanceCeiling {
  private minute = -1;
  private count = 0;

  constructor(private readonly perMinute: number) {}

  /** Takes one slot of the current minute; false when the instance is at its ceiling. */
  take(now: Date): boolean {
    const minute = Math.floor(now.getTime() / 60_000);
    if (minute !== this.minute) {
      this.minute = minute;
      this.count = 0;
    }
    if (this.count >= this.perMinute) return false;
    this.count++;
    return true;
  }

  /** Gives back a slot taken this minute (the request was refused by the user's quota). */
  release(now: Date): void {
    if (Math.floor(now.getTime() / 60_000) === this.minute && this.count > 0) this.count--;
  }
}

/**
 * The identification budget, checked before any expensive work (body parsing, decoding, the
 * model): the instance's ceiling first (memory only), then the caller's own quota in Firestore,
 * smaller for anonymous accounts.
 */
export async function consumeIdentifyBudget(
  caller: Caller,
  deps: { db: Firestore; now: Date; policy: IdentifyQuotaPolicy; ceiling: InstanceCeiling },
): Promise<void> {
  if (!deps.ceiling.take(deps.now)) {
    const wait = secondsToNextMinute(deps.now);
    exhausted(`Service très sollicité : réessayez dans ${wait} s.`, wait);
  }
  try {
    await consumeIdentifyQuota(
      deps.db,
      caller.uid,
      deps.now,
      caller.anonymous ? deps.policy.anonymous : deps.policy.signedIn,
    );
  } catch (err) {
    deps.ceiling.release(deps.now);
    throw err;
  }
}
