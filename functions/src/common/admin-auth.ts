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
