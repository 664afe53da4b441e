/**
 * Vitest setup file of the e2e project: runs before each test file, so every file starts from
 * the same state whatever ran before it in the shared emulator suite: Firestore and Storage
 * emptied, the species catalogue seeded again. (Auth users are left: tests create unique ones.)
 */
import { beforeAll } from 'vitest';
import { seedSpeciesCatalog } from '../../scripts/seed/species.js';
import { PROJECT_ID, adminBucket, adminDb } from './support.js';

beforeAll(async () => {
  const firestoreHost = process.env.FIRESTORE_EMULATOR_HOST;
  const res = await fetch(
    `http://${firestoreHost}/emulator/v1/projects/${PROJECT_ID}/databases/(default)/documents`,
    { method: 'DELETE' },
  );
  if (!res.ok) throw new Error(`Firestore emulator reset failed: ${res.status}`);
  await adminBucket().deleteFiles({ force: true });
  await seedSpeciesCatalog(adminDb());
});
