import { getApps, initializeApp, type App } from 'firebase-admin/app';
import { getAuth, type Auth } from 'firebase-admin/auth';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';
import { getStorage } from 'firebase-admin/storage';

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

export type Bucket = ReturnType<ReturnType<typeof getStorage>['bucket']>;

export function defaultBucket(): Bucket {
  return getStorage(app()).bucket();
}

export function bucketNamed(name: string): Bucket {
  return getStorage(app()).bucket(name);
}
