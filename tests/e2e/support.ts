/**
 * Helpers for end-to-end tests: they run inside `firebase emulators:exec`, talk to the real
 * emulators with the Admin SDK (setup, assertions) and the Firebase JS client SDK (what the
 * mobile app and the hosted pages use).
 */
import { randomUUID } from 'node:crypto';
import { deleteApp, getApps, initializeApp as initAdmin, type App } from 'firebase-admin/app';
import { getAuth as getAdminAuth } from 'firebase-admin/auth';
import { getFirestore as getAdminFirestore } from 'firebase-admin/firestore';
import { getStorage as getAdminStorage } from 'firebase-admin/storage';
import { expect } from 'vitest';
import { initializeApp, type FirebaseApp } from 'firebase/app';
import { connectAuthEmulator, getAuth, signInWithEmailAndPassword, type Auth } from 'firebase/auth';
import { connectFirestoreEmulator, getFirestore, type Firestore } from 'firebase/firestore';
import { connectFunctionsEmulator, getFunctions, type Functions } from 'firebase/functions';
import { emulatorPorts } from '../../scripts/emulators/stack.js';
import { functionsOrigin } from '../../scripts/emulators/wait.js';
import { retryEveryStorageRequest } from '../../functions/src/common/storage-retries.js';
import { uploadIdFor } from '../../functions/src/handlers/ingestion.js';
import { HANG_BOUND_MS, STEP_HANG_BOUND_MS } from '../hang-bound.js';

export const PROJECT_ID = process.env.GCLOUD_PROJECT ?? 'demo-wildlens';
export const BUCKET = `${PROJECT_ID}.appspot.com`;
export const REGION = 'europe-west1';
/** The suite's addresses: `firebase emulators:exec` exports the *_EMULATOR_HOST variables and
 * the launcher adds WILDLENS_*_ORIGIN (ports may be shifted by WILDLENS_PORT_OFFSET). */
export const FUNCTIONS_ORIGIN = functionsOrigin();
/**
 * A callable's client options for the tests: the Firebase client gives up after 70 s by default,
 * which a function's first call (the emulator loads it) can take on a busy machine. Here the
 * function decides; the client's deadline only bounds a hang.
 */
export const CALL_OPTIONS = { timeout: STEP_HANG_BOUND_MS };

export const HOSTING_ORIGIN =
  process.env.WILDLENS_HOSTING_ORIGIN ?? `http://127.0.0.1:${emulatorPorts().hosting}`;
const ports = emulatorPorts();
process.env.FIRESTORE_EMULATOR_HOST ??= `127.0.0.1:${ports.firestore}`;
process.env.FIREBASE_AUTH_EMULATOR_HOST ??= `127.0.0.1:${ports.auth}`;
process.env.FIREBASE_STORAGE_EMULATOR_HOST ??= `127.0.0.1:${ports.storage}`;
process.env.STORAGE_EMULATOR_HOST ??= `http://${process.env.FIREBASE_STORAGE_EMULATOR_HOST}`;

function hostPort(value: string): { host: string; port: number } {
  const [host = '127.0.0.1', port = '0'] = value.replace(/^https?:\/\//, '').split(':');
  return { host, port: Number(port) };
}

export function adminApp(): App {
  return getApps()[0] ?? initAdmin({ projectId: PROJECT_ID, storageBucket: BUCKET });
}
export const adminDb = () => getAdminFirestore(adminApp());
export const adminAuth = () => getAdminAuth(adminApp());
/**
 * The tests' bucket retries a dropped connection on every request, as the functions' own does
 * (retryEveryStorageRequest): handlers under test get the client they get deployed, and a
 * test's own write or check fails only on what it checks.
 */
export const adminBucket = () =>
  retryEveryStorageRequest(getAdminStorage(adminApp()).bucket(BUCKET));

/**
 * An object's bytes, read as a test's check of what the code under test stored: through
 * adminBucket, whose client retries a dropped connection (« socket hang up »: see
 * storage-faults.test.ts); anything else (a missing object: 404) fails at once.
 */
export async function downloadObject(name: string): Promise<Buffer> {
  return (await adminBucket().file(name).download())[0];
}

export interface Client {
  app: FirebaseApp;
  auth: Auth;
  db: Firestore;
  functions: Functions;
}

/** A fresh client SDK instance (its own auth state), wired to the emulators. */
export function client(): Client {
  const app = initializeApp(
    { projectId: PROJECT_ID, apiKey: 'fake-api-key', storageBucket: BUCKET },
    `client-${randomUUID()}`,
  );
  const auth = getAuth(app);
  connectAuthEmulator(auth, `http://${process.env.FIREBASE_AUTH_EMULATOR_HOST}`, {
    disableWarnings: true,
  });
  const db = getFirestore(app);
  const firestoreAddress = hostPort(process.env.FIRESTORE_EMULATOR_HOST ?? '');
  connectFirestoreEmulator(db, firestoreAddress.host, firestoreAddress.port);
  const functions = getFunctions(app, REGION);
  const functionsAddress = hostPort(new URL(FUNCTIONS_ORIGIN).host);
  connectFunctionsEmulator(functions, functionsAddress.host, functionsAddress.port);
  return { app, auth, db, functions };
}

/** Creates a user in the Auth emulator (optionally with custom claims) and signs a client in. */
export async function signedInClient(
  claims?: Record<string, unknown>,
): Promise<Client & { uid: string; email: string }> {
  const email = `user-${randomUUID().slice(0, 8)}@example.org`;
  const password = 'mot-de-passe-de-test';
  const user = await adminAuth().createUser({ email, password });
  if (claims) await adminAuth().setCustomUserClaims(user.uid, claims);
  const c = client();
  await signInWithEmailAndPassword(c.auth, email, password);
  return { ...c, uid: user.uid, email };
}

/** Polls until `probe` returns a value (not undefined); the timeout only bounds a hang. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  { timeoutMs = HANG_BOUND_MS, intervalMs = 250, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The uploads/{id} record ingestion (trigger or handler) writes for an object, once it exists. */
export function ingestionRecord(
  objectName: string,
  timeoutMs = HANG_BOUND_MS,
): Promise<Record<string, unknown>> {
  return eventually(
    async () => {
      const s = await adminDb()
        .doc(`uploads/${uploadIdFor(objectName)}`)
        .get();
      return s.exists ? s.data() : undefined;
    },
    { timeoutMs, what: `ingestion of ${objectName}` },
  );
}

export async function closeAdmin(): Promise<void> {
  await Promise.all(getApps().map((a) => deleteApp(a)));
}

/**
 * Checks that an upload became a training image (its record, its trainingImages document and its
 * stored JPEG agree) and returns the document and the stored bytes for further checks.
 */
export async function expectAcceptedTrainingImage(
  record: Record<string, unknown>,
  hash: string,
  speciesId: string,
) {
  expect(record).toMatchObject({ status: 'accepted', speciesId, trainingImageId: hash });
  const image = await adminDb().doc(`trainingImages/${hash}`).get();
  expect(image.get('speciesId')).toBe(speciesId);
  const stored = await downloadObject(`training/${speciesId}/${hash}.jpg`);
  return { image, stored };
}
