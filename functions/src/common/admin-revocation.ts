/**
 * Granting and withdrawing admin rights, for the callables and for firestore.rules alike.
 *
 * The `admin` custom claim opens the admin pages, but an ID token keeps the claims it was
 * issued with for up to an hour. The admin callables look the account up on every call
 * (requireCurrentAdmin); firestore.rules cannot, so the withdrawal also records the account in
 * `adminRevocations/{uid}` (functions-only), which the rules read: a token still saying
 * `admin: true` reads nothing once that document exists (issue 20, finding 9). Granting again
 * removes it. Rules cannot see an account disabled or a session revoked in the console alone:
 * `npm run admin:revoke` is the way to remove an admin at once.
 */
import type { Firestore } from 'firebase-admin/firestore';

/** adminRevocations/{uid}: read by firestore.rules (isAdmin), written only here. */
export const ADMIN_REVOCATIONS_COLLECTION = 'adminRevocations';

/** The part of the Admin SDK's Auth used here. */
export interface ClaimsAuth {
  getUser(uid: string): Promise<{ customClaims?: Record<string, unknown> }>;
  setCustomUserClaims(uid: string, claims: Record<string, unknown> | null): Promise<void>;
}

/** Gives the account the admin claim (other claims kept) and lifts an earlier revocation. */
export async function grantAdmin(deps: { auth: ClaimsAuth; db: Firestore }, uid: string) {
  const user = await deps.auth.getUser(uid);
  await deps.auth.setCustomUserClaims(uid, { ...(user.customClaims ?? {}), admin: true });
  await deps.db.collection(ADMIN_REVOCATIONS_COLLECTION).doc(uid).delete();
}

/**
 * Withdraws the admin claim (other claims kept) and records the revocation first, so that no
 * moment exists where the claim is gone from Auth but old tokens still read through the rules.
 */
export async function withdrawAdmin(
  deps: { auth: ClaimsAuth; db: Firestore; now: () => Date },
  uid: string,
) {
  await deps.db.collection(ADMIN_REVOCATIONS_COLLECTION).doc(uid).set({ revokedAt: deps.now() });
  const user = await deps.auth.getUser(uid);
  const { admin: _withdrawn, ...claims } = user.customClaims ?? {};
  await deps.auth.setCustomUserClaims(uid, claims);
}
