import { initializeApp } from 'firebase-admin/app';
import { getFirestore } from 'firebase-admin/firestore';
import { waitForFunctions } from '../../scripts/emulators/wait.js';
import { seedSpeciesCatalog } from '../../scripts/seed/species.js';

/** Runs once inside `firebase emulators:exec`: waits for the functions, loads the seed data. */
export default async function setup(): Promise<void> {
  await waitForFunctions(180_000);
  const app = initializeApp({ projectId: process.env.GCLOUD_PROJECT ?? 'demo-wildlens' }, 'seed');
  await seedSpeciesCatalog(getFirestore(app));
}
