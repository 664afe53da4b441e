import { getApps, initializeApp, type App } from 'firebase-admin/app';
import { getAppCheck, type AppCheck } from 'firebase-admin/app-check';
import { getAuth, type Auth } from 'firebase-admin/auth';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';
import { getStorage } from 'firebase-admin/storage';
import type { AccountState } from './common/admin-auth.js';
import { retryEveryStorageRequest } from './common/storage-retries.js';

// One Admin app per instance, created on first use (cold start cost paid once).
function app(): App {
  return getApps()[0] ?? initializeApp();
}

export function firestore(): Firestore {
  return getFirestore(app());
}

export function auth(): Auth {
  return getAuth(app());
}

export function appCheck(): AppCheck {
  return getAppCheck(app());
}

/** What Firebase Auth says about an account now (null: no such account, e.g. deleted). */
export async function accountState(uid: string): Promise<AccountState | null> {
  try {
    const user = await auth().getUser(uid);
    return {
      disabled: user.disabled,
      admin: user.customClaims?.admin === true,
      tokensValidAfterMs: user.tokensValidAfterTime ? Date.parse(user.tokensValidAfterTime) : null,
    };
  } catch (err) {
    if ((err as { code?: unknown } | null)?.code === 'auth/user-not-found') return null;
    throw err;
  }
}

/** E-mails of the accounts Auth knows among `uids` (getUsers takes 100 identifiers a call). */
export async function accountEmails(uids: string[]): Promise<Map<string, string>> {
  const emails = new Map<string, string>();
  for (let i = 0; i < uids.length; i += 100) {
    const { users } = await auth().getUsers(uids.slice(i, i + 100).map((uid) => ({ uid })));
    for (const user of users) if (user.email) emails.set(user.uid, user.email);
  }
  return emails;
}

export type Bucket = ReturnType<ReturnType<typeof getStorage>['bucket']>;

export function defaultBucket(): Bucket {
  return retryEveryStorageRequest(getStorage(app()).bucket());
}

export function bucketNamed(name: string): Bucket {
  return retryEveryStorageRequest(getStorage(app()).bucket(name));
}
