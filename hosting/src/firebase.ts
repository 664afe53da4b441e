/**
 * Firebase client wiring shared by every page. The config comes from Hosting's reserved URL
 * `/__/firebase/init.json` (the Hosting emulator answers it too), with a demo-project fallback.
 * Pages served from localhost talk to the emulators; their ports are derived from the page's
 * own port so that suites shifted by WILDLENS_PORT_OFFSET stay self-consistent. App Check is
 * started from the build's configuration before any call (app-check.ts).
 */
import { initializeApp, type FirebaseApp, type FirebaseOptions } from 'firebase/app';
import {
  ReCaptchaEnterpriseProvider,
  ReCaptchaV3Provider,
  initializeAppCheck,
} from 'firebase/app-check';
import { connectAuthEmulator, getAuth, type Auth } from 'firebase/auth';
import { connectFirestoreEmulator, getFirestore, type Firestore } from 'firebase/firestore';
import {
  connectFunctionsEmulator,
  getFunctions,
  httpsCallable,
  type Functions,
} from 'firebase/functions';
import { appCheckPlan, type AppCheckBuildConfig, type AppCheckPlan } from './app-check.js';

/** Injected by scripts/build-hosting.ts (esbuild define) from the build's environment. */
declare const __WILDLENS_APP_CHECK__: AppCheckBuildConfig | null;

export const REGION = 'europe-west1';
const HOSTING_EMULATOR_PORT = 5000;

const FALLBACK_CONFIG: FirebaseOptions = {
  projectId: 'demo-wildlens',
  apiKey: 'fake-api-key',
  authDomain: 'demo-wildlens.firebaseapp.com',
  storageBucket: 'demo-wildlens.appspot.com',
};

export interface Firebase {
  app: FirebaseApp;
  auth: Auth;
  db: Firestore;
  functions: Functions;
  /** True when the page talks to the local Emulator Suite. */
  emulated: boolean;
  projectId: string;
}

export function isLocalHost(hostname = location.hostname): boolean {
  return hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]';
}

/** Emulator ports for a page served by the Hosting emulator on `pagePort`. */
export function emulatorPortsFor(pagePort: number): {
  auth: number;
  firestore: number;
  functions: number;
  storage: number;
} {
  const offset = Number.isInteger(pagePort) ? pagePort - HOSTING_EMULATOR_PORT : 0;
  const shift = offset >= 0 && offset <= 1000 ? offset : 0;
  return {
    auth: 9099 + shift,
    firestore: 8080 + shift,
    functions: 5001 + shift,
    storage: 9199 + shift,
  };
}

async function loadConfig(): Promise<FirebaseOptions> {
  try {
    const res = await fetch('/__/firebase/init.json', { cache: 'no-store' });
    if (!res.ok) return FALLBACK_CONFIG;
    const config = (await res.json()) as FirebaseOptions;
    return config.projectId && config.apiKey ? config : FALLBACK_CONFIG;
  } catch {
    return FALLBACK_CONFIG;
  }
}

/** Acts on the plan: App Check must be running before the first call asks it for a token. */
function startAppCheck(app: FirebaseApp, plan: AppCheckPlan): void {
  if (plan.kind === 'off') return;
  if (plan.kind === 'unconfigured') {
    console.warn(plan.warningFr);
    return;
  }
  if (plan.debugToken !== null) {
    (self as { FIREBASE_APPCHECK_DEBUG_TOKEN?: string | boolean }).FIREBASE_APPCHECK_DEBUG_TOKEN =
      plan.debugToken;
  }
  initializeAppCheck(app, {
    provider:
      plan.provider === 'recaptcha-enterprise'
        ? new ReCaptchaEnterpriseProvider(plan.siteKey)
        : new ReCaptchaV3Provider(plan.siteKey),
    isTokenAutoRefreshEnabled: true,
  });
}

let instance: Promise<Firebase> | undefined;

export function firebase(): Promise<Firebase> {
  instance ??= (async () => {
    const config = await loadConfig();
    const app = initializeApp(config);
    const emulated = isLocalHost();
    startAppCheck(app, appCheckPlan(__WILDLENS_APP_CHECK__, emulated));
    const auth = getAuth(app);
    auth.languageCode = 'fr';
    const db = getFirestore(app);
    const functions = getFunctions(app, REGION);
    if (emulated) {
      const host = location.hostname === 'localhost' ? 'localhost' : '127.0.0.1';
      const ports = emulatorPortsFor(Number(location.port || 80));
      connectAuthEmulator(auth, `http://${host}:${ports.auth}`, { disableWarnings: true });
      connectFirestoreEmulator(db, host, ports.firestore);
      connectFunctionsEmulator(functions, host, ports.functions);
    }
    return { app, auth, db, functions, emulated, projectId: config.projectId ?? '' };
  })();
  return instance;
}

/** Calls an `onCall` function; errors surface as FirebaseError (see errors.ts for French text). */
export async function call<Req, Res>(name: string, data: Req, timeoutMs = 70_000): Promise<Res> {
  const { functions } = await firebase();
  const result = await httpsCallable<Req, Res>(functions, name, { timeout: timeoutMs })(data);
  return result.data;
}
