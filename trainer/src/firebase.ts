import { getApps, initializeApp, type App } from 'firebase-admin/app';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';
import { getStorage } from 'firebase-admin/storage';

export type Bucket = ReturnType<ReturnType<typeof getStorage>['bucket']>;

/**
 * Admin SDK app of the trainer. Under the emulators the *_EMULATOR_HOST variables redirect it;
 * on Cloud Run the project comes from the metadata server and the bucket from
 * WILDLENS_STORAGE_BUCKET (set on the job), since Cloud Run provides no Firebase config.
 */
export function trainerApp(env: NodeJS.ProcessEnv = process.env): App {
  const existing = getApps()[0];
  if (existing) return existing;
  const projectId = env.GCLOUD_PROJECT ?? env.GOOGLE_CLOUD_PROJECT;
  const storageBucket =
    env.WILDLENS_STORAGE_BUCKET ?? (projectId ? `${projectId}.appspot.com` : undefined);
  return initializeApp({ ...(projectId ? { projectId } : {}), storageBucket });
}

export function trainerFirestore(): Firestore {
  return getFirestore(trainerApp());
}

/**
 * The raw bucket, with the Storage SDK's own retries off: the trainer's policy
 * (resilience.ts) is the one that retries, bounded and logged, and it also retries writes,
 * which the SDK never does without preconditions.
 */
export function trainerBucket(): Bucket {
  const bucket = getStorage(trainerApp()).bucket();
  bucket.storage.retryOptions.autoRetry = false;
  return bucket;
}
