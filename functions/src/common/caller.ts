import { SESSION_GONE_FR, sessionIsCurrent, type AccountState } from './admin-auth.js';
import { fail } from './errors.js';

/** Who is asking: anonymous accounts cost nothing to create, so they get a smaller quota. */
export interface Caller {
  uid: string;
  anonymous: boolean;
}

/** The verified token claims the backend reads (callable auth context or a decoded ID token). */
export interface VerifiedAuth {
  uid: string;
  token?: { firebase?: { sign_in_provider?: unknown } } & Record<string, unknown>;
}

export function callerOf(auth: VerifiedAuth): Caller {
  return { uid: auth.uid, anonymous: auth.token?.firebase?.sign_in_provider === 'anonymous' };
}

/** Callables: signed in (`unauthenticated` otherwise); the uid always comes from the token. */
export function requireCaller(auth: VerifiedAuth | undefined): Caller {
  if (!auth?.uid) fail('unauthenticated', 'Connectez-vous pour utiliser cette fonction.');
  return callerOf(auth);
}

/**
 * requireCaller, then the account's current state (one Auth lookup): a deleted, disabled or
 * revoked account's ID token is refused although it has not expired yet. Every callable that
 * reads or writes a user's own data goes through it; it narrows the window in which a deleted
 * account could still write, and the erasure marker checked by every write closes it (see
 * handlers/erasure-marker.ts).
 */
export async function requireLiveCaller(
  auth: VerifiedAuth | undefined,
  accountState: (uid: string) => Promise<AccountState | null>,
): Promise<Caller> {
  const caller = requireCaller(auth);
  if (!sessionIsCurrent(auth?.token, await accountState(caller.uid))) {
    fail('unauthenticated', SESSION_GONE_FR);
  }
  return caller;
}
