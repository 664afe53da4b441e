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
