/** `npm run seed`: loads the seed data into the running emulators (Firestore). */
import { initializeApp } from 'firebase-admin/app';
import { getFirestore } from 'firebase-admin/firestore';
import { PROJECT_ID, emulatorPorts } from './emulators/stack.js';
import { seedSpeciesCatalog } from './seed/species.js';

process.env.FIRESTORE_EMULATOR_HOST ??= `127.0.0.1:${emulatorPorts().firestore}`;
const db = getFirestore(initializeApp({ projectId: process.env.GCLOUD_PROJECT ?? PROJECT_ID }));
const count = await seedSpeciesCatalog(db);
console.log(`Catalogue des espèces : ${count} espèces écrites dans Firestore.`);
