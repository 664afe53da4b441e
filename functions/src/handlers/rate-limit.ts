import type { Firestore } from 'firebase-admin/firestore';
import { fail } from '../common/errors.js';
import { FIRESTORE_DEADLINE_MS, withDeadline } from '../common/transient.js';

export interface RateLimits {
  perMinute: number;
  perDay: number;
}

interface Counters {
  minute: number;
  minuteCount: number;
  day: string;
  dayCount: number;
}

/**
 * Per-user identification quota (fixed windows: the current minute and the UTC day), kept in
 * `rateLimits/{uid}` and consumed in a transaction so concurrent requests cannot overshoot.
 * Throws `resource-exhausted` with a French message saying when to retry.
 */
export async function consumeIdentifyQuota(
  db: Firestore,
  uid: string,
  now: Date,
  limits: RateLimits,
): Promise<void> {
  const ref = db.collection('rateLimits').doc(uid);
  const minute = Math.floor(now.getTime() / 60_000);
  const day = now.toISOString().slice(0, 10);
  // Bounded: while Firestore is unreachable a default transaction retries for ~4 minutes, past
  // the function's timeout; this way the caller gets a prompt `unavailable`.
  const verdict = await withDeadline(
    db.runTransaction(
      async (tx) => {
        const previous = (await tx.get(ref)).data() as Counters | undefined;
        const minuteCount = previous?.minute === minute ? previous.minuteCount : 0;
        const dayCount = previous?.day === day ? previous.dayCount : 0;
        if (dayCount >= limits.perDay) return 'day' as const;
        if (minuteCount >= limits.perMinute) return 'minute' as const;
        tx.set(ref, { minute, minuteCount: minuteCount + 1, day, dayCount: dayCount + 1 });
        return 'ok' as const;
      },
      { maxAttempts: 3 },
    ),
    FIRESTORE_DEADLINE_MS,
    'identify quota',
  );
  if (verdict === 'minute') {
    const wait = 60 - (Math.floor(now.getTime() / 1000) % 60);
    fail(
      'resource-exhausted',
      `Trop d’identifications en une minute (${limits.perMinute} au plus) : réessayez dans ${wait} s.`,
    );
  }
  if (verdict === 'day') {
    fail(
      'resource-exhausted',
      `Limite quotidienne atteinte (${limits.perDay} identifications) : réessayez demain.`,
    );
  }
}
