/**
 * `npm start`: starts the whole Emulator Suite (Auth, Functions, Firestore, Storage, Hosting),
 * provisioned for this machine (online or offline, see emulators/stack.ts), loads the seed
 * data and prints the URLs a newcomer needs. Ctrl+C stops everything.
 */
import { initializeApp } from 'firebase-admin/app';
import { getFirestore } from 'firebase-admin/firestore';
import {
  ALL_EMULATORS,
  PROJECT_ID,
  StackError,
  describePlan,
  emulatorPorts,
  planEmulatorStack,
} from './emulators/stack.js';
import { spawnFirebaseSuite } from './emulators/suite.js';
import { waitForFunctions } from './emulators/wait.js';
import { seedSpeciesCatalog } from './seed/species.js';
import { existsSync } from 'node:fs';
import { DEFAULT_SEED_DATASET, importDataset } from './import-dataset.js';

async function main(): Promise<number> {
  const plan = await planEmulatorStack();
  console.log(`\n${describePlan(plan)}\n`);
  const exited = spawnFirebaseSuite(
    ['emulators:start', '--only', ALL_EMULATORS, '--project', PROJECT_ID, ...plan.firebaseArgs],
    plan.env,
  );

  const ready = await Promise.race([
    waitForFunctions(180_000).then(() => true),
    exited.then(() => false),
  ]);
  if (!ready) return exited;

  const ports = emulatorPorts();
  process.env.FIRESTORE_EMULATOR_HOST = `127.0.0.1:${ports.firestore}`;
  const db = getFirestore(initializeApp({ projectId: PROJECT_ID }));
  const count = await seedSpeciesCatalog(db);

  console.log(
    [
      '',
      '──────────────── Wildlens : pile locale prête ────────────────',
      `Mode : ${plan.mode}${plan.notes.length ? ` (${plan.notes.join(' ; ')})` : ''}`,
      `Données de départ : ${count} espèces dans Firestore`,
      `Pages d’administration (Hosting) : ${plan.env.WILDLENS_HOSTING_ORIGIN}`,
      `Santé (HTTPS) : ${plan.env.WILDLENS_FUNCTIONS_ORIGIN}/health`,
      `Fonctions appelables : ${plan.env.WILDLENS_FUNCTIONS_ORIGIN}/<nom>`,
      `Auth : 127.0.0.1:${ports.auth} · Firestore : 127.0.0.1:${ports.firestore} · Storage : 127.0.0.1:${ports.storage}`,
      plan.ui ? 'Emulator UI : http://127.0.0.1:4000' : 'Emulator UI : indisponible dans ce mode',
      'Ctrl+C pour tout arrêter.',
      '──────────────────────────────────────────────────────────────',
      '',
    ].join('\n'),
  );
  await firstRunImport(db);
  return exited;
}

/**
 * First run: without an active model, identification cannot work. If a labelled dataset folder
 * is configured (WILDLENS_SEED_DATASET, default ../shared/datasets/footprints-dev when present;
 * "none" disables), it goes through the real pipeline: upload → ingestion → training run.
 */
async function firstRunImport(db: ReturnType<typeof getFirestore>): Promise<void> {
  const active = await db.doc('config/activeModel').get();
  if (active.exists) {
    console.log(`Modèle actif : ${String(active.get('version'))}`);
    return;
  }
  const configured = process.env.WILDLENS_SEED_DATASET;
  const dir = configured ?? (existsSync(DEFAULT_SEED_DATASET) ? DEFAULT_SEED_DATASET : undefined);
  if (!dir || dir === 'none') {
    console.log(
      'Aucun modèle actif et aucun jeu de données configuré (WILDLENS_SEED_DATASET) : ' +
        'importez des photos depuis les pages d’administration puis lancez un entraînement.',
    );
    return;
  }
  console.log(`Premier démarrage : aucun modèle actif, import automatique de ${dir}.`);
  try {
    await importDataset(dir, (line) => console.log(`[import] ${line}`));
    console.log('[import] Identification opérationnelle.');
  } catch (err) {
    console.error(`[import] Échec : ${err instanceof Error ? err.message : String(err)}`);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof StackError ? err.message : err);
    process.exit(1);
  },
);
