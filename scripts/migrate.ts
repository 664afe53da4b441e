/**
 * `npm run migrate`: the project's data migrations, each idempotent and cheap when there is
 * nothing left to do: the training images' download tokens (issue 20 finding 13,
 * functions/src/handlers/download-token-migration.ts), then their thumbnails for images
 * ingested before thumbnails existed (issue 23, functions/src/handlers/thumbnail-migration.ts). `npm start` runs them against its
 * emulators at every start; `firebase deploy` runs this script after deploying the functions
 * (their postdeploy hook in firebase.json) against the deployed project.
 *
 *   npm run migrate -- --emulator                       # the local stack (WILDLENS_PORT_OFFSET)
 *   npm run migrate -- --project <id> [--bucket <nom>]  # a real project (Application Default
 *                                                       # Credentials)
 *
 * Against the emulators when FIRESTORE_EMULATOR_HOST is set (or with --emulator, which sets the
 * emulator hosts from firebase.json's ports + WILDLENS_PORT_OFFSET); otherwise against the real
 * project, whose id comes from --project or GCLOUD_PROJECT (set by firebase-tools in deploy
 * hooks). The bucket is --bucket, else WILDLENS_STORAGE_BUCKET, else `<project>.appspot.com`.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { initializeApp, type App } from 'firebase-admin/app';
import { getFirestore } from 'firebase-admin/firestore';
import { getStorage } from 'firebase-admin/storage';
import { migrateTrainingDownloadTokens } from '../functions/src/handlers/download-token-migration.js';
import { backfillTrainingThumbnails } from '../functions/src/handlers/thumbnail-migration.js';
import { PROJECT_ID as DEMO_PROJECT_ID, emulatorPorts } from './emulators/stack.js';

const USAGE = `Usage :
  npm run migrate -- --emulator
  npm run migrate -- --project <id> [--bucket <nom>]`;

class CliError extends Error {}

/** Runs every migration against `app`'s Firestore and bucket; returns what changed, in French. */
export async function runMigrations(app: App, bucketName?: string): Promise<string[]> {
  const deps = { db: getFirestore(app), bucket: getStorage(app).bucket(bucketName) };
  const changes: string[] = [];
  const tokens = await migrateTrainingDownloadTokens(deps);
  if (tokens.tokensReplaced || tokens.urlsRewritten) {
    changes.push(
      `Jetons de téléchargement des images d’entraînement renouvelés (clé secrète du projet) : ` +
        `${tokens.tokensReplaced} objet(s), ${tokens.urlsRewritten} URL(s) sur ${tokens.objects} image(s).`,
    );
  }
  const thumbnails = await backfillTrainingThumbnails(deps);
  if (thumbnails.thumbnailsWritten) {
    changes.push(
      `Vignettes de 256 px ajoutées aux images d’entraînement qui n’en avaient pas : ` +
        `${thumbnails.thumbnailsWritten} sur ${thumbnails.images} image(s).`,
    );
  }
  return changes;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      project: { type: 'string' },
      bucket: { type: 'string' },
      emulator: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (values.emulator) {
    const ports = emulatorPorts();
    process.env.FIRESTORE_EMULATOR_HOST ??= `127.0.0.1:${ports.firestore}`;
    process.env.FIREBASE_STORAGE_EMULATOR_HOST ??= `127.0.0.1:${ports.storage}`;
    process.env.STORAGE_EMULATOR_HOST ??= `http://127.0.0.1:${ports.storage}`;
  }
  const emulated = Boolean(process.env.FIRESTORE_EMULATOR_HOST);
  const projectId =
    values.project ??
    process.env.GCLOUD_PROJECT ??
    process.env.GOOGLE_CLOUD_PROJECT ??
    (emulated ? DEMO_PROJECT_ID : undefined);
  if (!projectId) {
    throw new CliError(`Projet inconnu : précisez --project <id> (ou --emulator).\n${USAGE}`);
  }
  if (!emulated && projectId.startsWith('demo-')) {
    throw new CliError(
      `Le projet ${projectId} n’existe que dans les émulateurs : ajoutez --emulator.`,
    );
  }
  if (emulated && !values.emulator && !projectId.startsWith('demo-')) {
    // After a deploy, migrating the emulators instead of the project would pass unnoticed.
    throw new CliError(
      `FIRESTORE_EMULATOR_HOST est défini : la migration viserait les émulateurs, pas le projet ` +
        `${projectId}. Retirez cette variable (ou ajoutez --emulator).`,
    );
  }
  const bucket = values.bucket ?? process.env.WILDLENS_STORAGE_BUCKET ?? `${projectId}.appspot.com`;
  console.log(
    emulated
      ? `Migrations : émulateurs (Firestore ${process.env.FIRESTORE_EMULATOR_HOST}, projet ${projectId}, bucket ${bucket})`
      : `Migrations : PRODUCTION, projet ${projectId}, bucket ${bucket} (identifiants par défaut de l’application)`,
  );
  const app = initializeApp({ projectId, storageBucket: bucket }, 'migrate');
  const changes = await runMigrations(app, bucket);
  console.log(changes.length ? changes.join('\n') : 'Migrations : rien à faire.');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(
        err instanceof CliError ? err.message : `Échec des migrations : ${String(err)}`,
      );
      process.exit(1);
    },
  );
}
