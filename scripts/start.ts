/**
 * `npm start`: starts the whole Emulator Suite (Auth, Functions, Firestore, Storage, Hosting),
 * provisioned for this machine (online or offline, see emulators/stack.ts), loads the seed
 * data and prints the URLs a newcomer needs. Ctrl+C stops everything.
 */
import { spawn } from 'node:child_process';
import { initializeApp } from 'firebase-admin/app';
import { getFirestore } from 'firebase-admin/firestore';
import {
  ALL_EMULATORS,
  PROJECT_ID,
  REPO_ROOT,
  StackError,
  describePlan,
  emulatorPorts,
  firebaseBin,
  planEmulatorStack,
} from './emulators/stack.js';
import { waitForFunctions } from './emulators/wait.js';
import { seedSpeciesCatalog } from './seed/species.js';

async function main(): Promise<number> {
  const plan = await planEmulatorStack();
  console.log(`\n${describePlan(plan)}\n`);
  const child = spawn(
    firebaseBin(),
    ['emulators:start', '--only', ALL_EMULATORS, '--project', PROJECT_ID, ...plan.firebaseArgs],
    { cwd: REPO_ROOT, stdio: 'inherit', env: { ...process.env, ...plan.env } },
  );
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => child.kill(signal));
  }

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
  return exited;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof StackError ? err.message : err);
    process.exit(1);
  },
);
