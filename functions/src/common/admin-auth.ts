import { fail } from './errors.js';

export interface AuthContext {
  uid: string;
  token?: Record<string, unknown>;
}

/** Admin callables: signed in (`unauthenticated`) and holding the `admin: true` claim. */
export function requireAdmin(auth: AuthContext | undefined): string {
  if (!auth?.uid) fail('unauthenticated', 'Connectez-vous pour utiliser cette fonction.');
  if (auth.token?.admin !== true)
    fail('permission-denied', 'Cette fonction est réservée aux administrateurs.');
  return auth.uid;
}

/** What Firebase Auth says about an account now (not what its ID token said at sign-in). */
export interface AccountState {
  disabled: boolean;
  admin: boolean;
  /** Tokens issued before this instant are revoked (admin:revoke, revokeRefreshTokens). */
  tokensValidAfterMs: number | null;
}

/**
 * requireAdmin, checked against the account's current state: an ID token stays valid for up
 * to an hour, so a removed admin (claim withdrawn, tokens revoked, account disabled) would keep
 * access that long on the token's word alone. One Auth lookup per admin call.
 */
export async function requireCurrentAdmin(
  auth: AuthContext | undefined,
  accountState: (uid: string) => Promise<AccountState | null>,
): Promise<string> {
  const uid = requireAdmin(auth);
  const account = await accountState(uid);
  const signedInAtMs = Number(auth?.token?.auth_time) * 1000;
  if (
    !account ||
    account.disabled ||
    (account.tokensValidAfterMs !== null && !(signedInAtMs >= account.tokensValidAfterMs))
  ) {
    fail('unauthenticated', 'Session révoquée ou expirée : reconnectez-vous.');
  }
  if (!account.admin) fail('permission-denied', 'Cette fonction est réservée aux administrateurs.');
  return uid;
}
