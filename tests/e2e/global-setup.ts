import { initializeApp } from 'firebase-admin/app';
import { getFirestore } from 'firebase-admin/firestore';
import { waitForFunctions } from '../../scripts/emulators/wait.js';
import { seedSpeciesCatalog } from '../../scripts/seed/species.js';
import { HANG_BOUND_MS } from '../hang-bound.js';

/** Runs once inside `firebase emulators:exec`: waits for the functions, loads the seed data. */
export default async function setup(): Promise<void> {
  // Only bounds a hang: a busy 2-core machine may take minutes to load every function.
  await waitForFunctions(HANG_BOUND_MS);
  const app = initializeApp({ projectId: process.env.GCLOUD_PROJECT ?? 'demo-wildlens' }, 'seed');
  await seedSpeciesCatalog(getFirestore(app));
}
