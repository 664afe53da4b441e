/** The identification quota against the real Firestore emulator (transactions included). */
import { randomUUID } from 'node:crypto';
import { HttpsError } from 'firebase-functions/https';
import { afterAll, describe, expect, it } from 'vitest';
import { consumeIdentifyQuota } from '../../functions/src/handlers/rate-limit.js';
import { adminDb, closeAdmin } from './support.js';

afterAll(closeAdmin);

const limits = { perMinute: 3, perDay: 5 };

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (err) {
    return err instanceof HttpsError ? `${err.code}: ${err.message}` : String(err);
  }
}

describe('identification quota', () => {
  it('allows N per minute, then refuses with resource-exhausted until the next minute', async () => {
    const uid = `quota-${randomUUID()}`;
    const t0 = new Date('2026-11-26T10:00:05Z');
    for (let i = 0; i < 3; i++) await consumeIdentifyQuota(adminDb(), uid, t0, limits);
    const refused = await codeOf(consumeIdentifyQuota(adminDb(), uid, t0, limits));
    expect(refused).toMatch(/^resource-exhausted: Trop d’identifications en une minute .* 55 s\.$/);
    const nextMinute = new Date('2026-11-26T10:01:00Z');
    expect(await codeOf(consumeIdentifyQuota(adminDb(), uid, nextMinute, limits))).toBe('ok');
  });

  it('caps the day, and a new UTC day starts afresh', async () => {
    const uid = `quota-${randomUUID()}`;
    for (let m = 0; m < 5; m++) {
      await consumeIdentifyQuota(adminDb(), uid, new Date(Date.UTC(2026, 10, 26, 12, m)), limits);
    }
    const refused = await codeOf(
      consumeIdentifyQuota(adminDb(), uid, new Date(Date.UTC(2026, 10, 26, 18, 0)), limits),
    );
    expect(refused).toMatch(/^resource-exhausted: Limite quotidienne atteinte/);
    const tomorrow = new Date(Date.UTC(2026, 10, 27, 0, 0, 30));
    expect(await codeOf(consumeIdentifyQuota(adminDb(), uid, tomorrow, limits))).toBe('ok');
  });

  it('a burst of 40 concurrent calls of one user yields exactly the limit, and resource-exhausted for the rest', async () => {
    // Issue 13, finding 4: the transaction aborted under contention ("Transaction lock
    // timeout") and 34 of 40 calls came back as `internal`.
    const uid = `quota-${randomUUID()}`;
    const t = new Date('2026-11-26T09:45:10Z');
    const burst = { perMinute: 30, perDay: 500 };
    const results = await Promise.all(
      Array.from({ length: 40 }, () => codeOf(consumeIdentifyQuota(adminDb(), uid, t, burst))),
    );
    const tally = results.reduce<Record<string, number>>((acc, r) => {
      const key = r.startsWith('resource-exhausted:') ? 'resource-exhausted' : r;
      acc[key] = (acc[key] ?? 0) + 1;
      return acc;
    }, {});
    expect(tally).toEqual({ ok: 30, 'resource-exhausted': 10 });
    expect((await adminDb().collection(`rateLimits/${uid}/tickets`).get()).size).toBe(30);
  });

  it('a call not served gives its ticket back; the quota pays only for calls served (issue 20, finding 22)', async () => {
    const uid = `quota-${randomUUID()}`;
    const t = new Date('2026-11-26T08:15:10Z');
    const charges = [];
    for (let i = 0; i < 3; i++) charges.push(await consumeIdentifyQuota(adminDb(), uid, t, limits));
    expect(await codeOf(consumeIdentifyQuota(adminDb(), uid, t, limits))).toMatch(
      /^resource-exhausted:/,
    );
    await charges[1]?.refund();
    expect(await codeOf(consumeIdentifyQuota(adminDb(), uid, t, limits))).toBe('ok');
    expect(await codeOf(consumeIdentifyQuota(adminDb(), uid, t, limits))).toMatch(
      /^resource-exhausted:/,
    );
    expect((await adminDb().collection(`rateLimits/${uid}/tickets`).get()).size).toBe(3);
  });

  it('refunds racing a burst never let more calls keep a ticket than the limit', async () => {
    const uid = `quota-${randomUUID()}`;
    const t = new Date('2026-11-26T08:20:10Z');
    const burst = { perMinute: 30, perDay: 500 };
    // Every other admitted call is "not served" and refunds at once, while the rest still count.
    const kept = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        try {
          const charge = await consumeIdentifyQuota(adminDb(), uid, t, burst);
          if (i % 2 === 0) {
            await charge.refund();
            return 0;
          }
          return 1;
        } catch (err) {
          expect(err).toBeInstanceOf(HttpsError);
          expect((err as HttpsError).code).toBe('resource-exhausted');
          return 0;
        }
      }),
    );
    const served = kept.reduce<number>((a, b) => a + b, 0);
    expect(served).toBeLessThanOrEqual(burst.perMinute);
    expect((await adminDb().collection(`rateLimits/${uid}/tickets`).get()).size).toBe(served);
  });

  it('never lets concurrent requests overshoot', async () => {
    const uid = `quota-${randomUUID()}`;
    const t = new Date('2026-11-26T09:30:10Z');
    const results = await Promise.all(
      Array.from({ length: 8 }, () => codeOf(consumeIdentifyQuota(adminDb(), uid, t, limits))),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(3);
    expect((await adminDb().collection(`rateLimits/${uid}/tickets`).get()).size).toBe(3);
  });
});
