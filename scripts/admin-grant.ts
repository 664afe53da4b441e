/**
 * Grants or revokes the `admin` custom claim that opens the admin pages. A revocation is also
 * recorded in Firestore (adminRevocations/{uid}), so the revoked admin's still-valid ID token
 * reads nothing more through firestore.rules; a grant lifts it
 * (functions/src/common/admin-revocation.ts).
 *
 *   npm run admin:grant -- user@example.org                 # production (--project, ADC)
 *   npm run admin:grant -- --emulator --create user@example.org [--password secret]
 *   npm run admin:revoke -- user@example.org
 *
 * Against the Auth and Firestore emulators when FIREBASE_AUTH_EMULATOR_HOST is set (or with
 * --emulator, which sets both hosts from firebase.json's ports + WILDLENS_PORT_OFFSET);
 * otherwise against the real project with Application Default Credentials
 * (`gcloud auth application-default login`). Other custom claims of the user are kept. A new
 * admin must sign in again (or reload the admin pages, which refresh the token); a revoked one
 * loses access at once.
 */
import { parseArgs } from 'node:util';
import { initializeApp } from 'firebase-admin/app';
import { getAuth, type UserRecord } from 'firebase-admin/auth';
import { getFirestore } from 'firebase-admin/firestore';
import { grantAdmin, withdrawAdmin } from '../functions/src/common/admin-revocation.js';
import { PROJECT_ID as DEMO_PROJECT_ID, emulatorPorts } from './emulators/stack.js';

const USAGE = `Usage :
  npm run admin:grant -- [--project <id>] [--emulator] [--create [--password <mdp>]] <e-mail>
  npm run admin:revoke -- [--project <id>] [--emulator] <e-mail>`;

class CliError extends Error {}

interface Options {
  action: 'grant' | 'revoke';
  email: string;
  project: string | undefined;
  emulator: boolean;
  create: boolean;
  password: string | undefined;
}

function parse(argv: string[]): Options {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      project: { type: 'string' },
      emulator: { type: 'boolean', default: false },
      create: { type: 'boolean', default: false },
      password: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const [action, email, ...extra] = positionals;
  if (action !== 'grant' && action !== 'revoke') throw new CliError(USAGE);
  if (!email || extra.length) throw new CliError(`Indiquez une seule adresse e-mail.\n${USAGE}`);
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
    throw new CliError(`Adresse e-mail invalide : « ${email} ».`);
  }
  if (values.create && action !== 'grant') {
    throw new CliError('--create ne s’utilise qu’avec admin:grant.');
  }
  return {
    action,
    email,
    project: values.project,
    emulator: values.emulator ?? false,
    create: values.create ?? false,
    password: values.password,
  };
}

async function findOrCreate(
  auth: ReturnType<typeof getAuth>,
  options: Options,
  emulated: boolean,
): Promise<UserRecord> {
  try {
    return await auth.getUserByEmail(options.email);
  } catch (err) {
    if ((err as { code?: string }).code !== 'auth/user-not-found') throw err;
  }
  if (!options.create) {
    throw new CliError(
      `Aucun utilisateur n’a l’adresse ${options.email} dans ce projet : il doit d’abord se ` +
        `connecter une fois${emulated ? ' (ou ajoutez --create pour le créer dans l’émulateur)' : ''}.`,
    );
  }
  if (!emulated) {
    throw new CliError('--create n’est permis que contre l’émulateur Auth (--emulator).');
  }
  const password = options.password ?? 'wildlens-admin';
  const user = await auth.createUser({ email: options.email, password, emailVerified: true });
  console.log(`Utilisateur créé dans l’émulateur : ${options.email} (mot de passe : ${password})`);
  return user;
}

async function main(): Promise<void> {
  const options = parse(process.argv.slice(2));
  if (options.emulator && !process.env.FIREBASE_AUTH_EMULATOR_HOST) {
    process.env.FIREBASE_AUTH_EMULATOR_HOST = `127.0.0.1:${emulatorPorts().auth}`;
  }
  if (process.env.FIREBASE_AUTH_EMULATOR_HOST && !process.env.FIRESTORE_EMULATOR_HOST) {
    process.env.FIRESTORE_EMULATOR_HOST = `127.0.0.1:${emulatorPorts().firestore}`;
  }
  const emulatorHost = process.env.FIREBASE_AUTH_EMULATOR_HOST;
  const projectId =
    options.project ??
    (emulatorHost
      ? DEMO_PROJECT_ID
      : (process.env.GOOGLE_CLOUD_PROJECT ?? process.env.GCLOUD_PROJECT));
  if (!projectId) {
    throw new CliError(
      'Projet inconnu : précisez --project <id> (ou --emulator pour l’émulateur local).',
    );
  }
  if (!emulatorHost && projectId.startsWith('demo-')) {
    throw new CliError(
      `Le projet ${projectId} est un projet de démonstration : il n’existe que dans les ` +
        'émulateurs. Ajoutez --emulator (pile locale démarrée par npm start).',
    );
  }
  console.log(
    emulatorHost
      ? `Cible : émulateur Auth ${emulatorHost} (projet ${projectId})`
      : `Cible : PRODUCTION, projet ${projectId} (identifiants par défaut de l’application)`,
  );

  const app = initializeApp({ projectId });
  const auth = getAuth(app);
  const user = await findOrCreate(auth, options, Boolean(emulatorHost));
  const deps = { auth, db: getFirestore(app), now: () => new Date() };
  if (options.action === 'grant') await grantAdmin(deps, user.uid);
  else await withdrawAdmin(deps, user.uid);
  console.log(
    options.action === 'grant'
      ? `✔ ${options.email} est administrateur (uid ${user.uid}). Il doit se reconnecter ou recharger la page.`
      : `✔ ${options.email} n’est plus administrateur (uid ${user.uid}) : ses pages et lectures sont refusées dès maintenant.`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    if (err instanceof CliError) {
      console.error(err.message);
    } else {
      const code = (err as { code?: string }).code ?? '';
      const message = err instanceof Error ? err.message : String(err);
      if (/ECONNREFUSED|fetch failed/.test(message)) {
        console.error(
          `Émulateur Auth injoignable (${process.env.FIREBASE_AUTH_EMULATOR_HOST}) : lancez d’abord npm start.`,
        );
      } else if (/credential|Could not load the default credentials|invalid_grant/i.test(message)) {
        console.error(
          'Identifiants Google introuvables ou expirés : lancez « gcloud auth application-default login ».',
        );
      } else {
        console.error(`Échec (${code || 'erreur'}) : ${message}`);
      }
    }
    process.exit(1);
  },
);
