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

/** What a refused session is told: revoked, disabled or deleted account alike. */
export const SESSION_GONE_FR = 'Session révoquée ou expirée : reconnectez-vous.';

/**
 * Whether a verified ID token still speaks for its account: the account exists (it was not
 * deleted), is not disabled, and the token was issued at a sign-in after the last revocation.
 * An ID token stays valid for up to an hour whatever happens to its account, so the token's
 * word alone is not enough for anything that reads or writes an account's data.
 */
export function sessionIsCurrent(
  token: Record<string, unknown> | undefined,
  account: AccountState | null,
): account is AccountState {
  const signedInAtMs = Number(token?.auth_time) * 1000;
  return (
    account !== null &&
    !account.disabled &&
    (account.tokensValidAfterMs === null || signedInAtMs >= account.tokensValidAfterMs)
  );
}

/**
 * requireAdmin, checked against the account's current state: a removed admin (claim
 * withdrawn, tokens revoked, account disabled) would otherwise keep access as long as its
 * token lives. One Auth lookup per admin call.
 */
export async function requireCurrentAdmin(
  auth: AuthContext | undefined,
  accountState: (uid: string) => Promise<AccountState | null>,
): Promise<string> {
  const uid = requireAdmin(auth);
  const account = await accountState(uid);
  if (!sessionIsCurrent(auth?.token, account)) fail('unauthenticated', SESSION_GONE_FR);
  if (!account.admin) fail('permission-denied', 'Cette fonction est réservée aux administrateurs.');
  return uid;
}
