import type { Firestore } from 'firebase-admin/firestore';
import { HttpsError } from 'firebase-functions/https';
import { describe, expect, it } from 'vitest';
import { InstanceCeiling, consumeIdentifyBudget } from './rate-limit.js';

describe('InstanceCeiling (issue 13, finding 3)', () => {
  it('lets `perMinute` calls through per minute, whoever makes them', () => {
    const ceiling = new InstanceCeiling(3);
    const t = new Date('2026-11-26T10:00:05Z');
    expect([1, 2, 3, 4].map(() => ceiling.take(t))).toEqual([true, true, true, false]);
    ceiling.release(t);
    expect(ceiling.take(t)).toBe(true);
    expect(ceiling.take(new Date('2026-11-26T10:01:00Z'))).toBe(true);
  });

  it('refuses past the ceiling before any Firestore work, saying when to retry', async () => {
    const ceiling = new InstanceCeiling(0);
    const untouched = new Proxy(
      {},
      {
        get() {
          throw new Error('Firestore must not be reached');
        },
      },
    ) as Firestore;
    const err = await consumeIdentifyBudget(
      { uid: 'u', anonymous: true },
      {
        db: untouched,
        now: new Date('2026-11-26T10:00:45Z'),
        ceiling,
        policy: {
          signedIn: { perMinute: 30, perDay: 500 },
          anonymous: { perMinute: 5, perDay: 30 },
        },
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpsError);
    expect(err).toMatchObject({
      code: 'resource-exhausted',
      message: 'Service très sollicité : réessayez dans 15 s.',
      details: { retryAfterSeconds: 15 },
    });
  });
});
