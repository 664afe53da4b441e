import { HttpsError } from 'firebase-functions/https';
import { describe, expect, it } from 'vitest';
import type { AccountState } from './admin-auth.js';
import { requireLiveCaller } from './caller.js';

const SIGNED_IN_AT = 1_780_000_000; // seconds, as in a token's auth_time
const token = (provider = 'password') => ({
  auth_time: SIGNED_IN_AT,
  firebase: { sign_in_provider: provider },
});
const live: AccountState = { disabled: false, admin: false, tokensValidAfterMs: null };

async function refusal(promise: Promise<unknown>) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HttpsError);
  return err as HttpsError;
}

describe('requireLiveCaller (issue 20, finding 2)', () => {
  it('lets a current session through, with its kind of account', async () => {
    const lookups: string[] = [];
    const state = async (uid: string) => (lookups.push(uid), live);
    expect(await requireLiveCaller({ uid: 'u1', token: token() }, state)).toEqual({
      uid: 'u1',
      anonymous: false,
    });
    expect(await requireLiveCaller({ uid: 'u2', token: token('anonymous') }, state)).toEqual({
      uid: 'u2',
      anonymous: true,
    });
    expect(lookups).toEqual(['u1', 'u2']);
  });

  it('refuses the still-valid token of a deleted, disabled or revoked account, in French', async () => {
    const cases: [string, AccountState | null][] = [
      ['deleted', null],
      ['disabled', { ...live, disabled: true }],
      ['revoked after sign-in', { ...live, tokensValidAfterMs: (SIGNED_IN_AT + 1) * 1000 }],
    ];
    for (const [what, account] of cases) {
      const err = await refusal(
        requireLiveCaller({ uid: 'u1', token: token() }, async () => account),
      );
      expect(err.code, what).toBe('unauthenticated');
      expect(err.message, what).toBe('Session révoquée ou expirée : reconnectez-vous.');
    }
    // Revoked before this sign-in: the new session is fine.
    expect(
      await requireLiveCaller({ uid: 'u1', token: token() }, async () => ({
        ...live,
        tokensValidAfterMs: SIGNED_IN_AT * 1000,
      })),
    ).toMatchObject({ uid: 'u1' });
  });

  it('refuses a token without a sign-in time when the account was ever revoked', async () => {
    const err = await refusal(
      requireLiveCaller({ uid: 'u1', token: {} }, async () => ({ ...live, tokensValidAfterMs: 1 })),
    );
    expect(err.code).toBe('unauthenticated');
  });

  it('refuses an anonymous request without looking anything up', async () => {
    const err = await refusal(
      requireLiveCaller(undefined, () => {
        throw new Error('no lookup expected');
      }),
    );
    expect(err.code).toBe('unauthenticated');
  });
});
