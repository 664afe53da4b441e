import type { Firestore } from 'firebase-admin/firestore';
import { COLLECTIONS } from '@wildlens/shared';
import { withDeadline } from '../common/transient.js';

export interface HealthReport {
  status: 'ok' | 'degraded';
  service: 'wildlens-functions';
  version: string;
  /** production, or emulator with how the local stack was provisioned. */
  mode: { runtime: 'production' | 'emulator'; stack: string | null; notes: string[] };
  firestore: { reachable: boolean; speciesCount: number | null };
  model: { active: string | null; loaded: string | null; backend: string | null };
  time: string;
}

export interface HealthDeps {
  db: Firestore;
  version: string;
  env: NodeJS.ProcessEnv;
  now: () => Date;
  /** What the identification engine has loaded in this instance (null until first use). */
  engine: () => { loadedVersion: string | null; backend: string | null };
}

export async function buildHealthReport(deps: HealthDeps): Promise<HealthReport> {
  const emulated = deps.env.FUNCTIONS_EMULATOR === 'true';
  let reachable = true;
  let speciesCount: number | null = null;
  let active: string | null = null;
  try {
    // A health check answers quickly or says "unreachable": never hangs on client retries.
    const [count, pointer] = await withDeadline(
      Promise.all([
        deps.db.collection(COLLECTIONS.species).count().get(),
        deps.db.collection(COLLECTIONS.config).doc('activeModel').get(),
      ]),
      5_000,
      'health firestore check',
    );
    speciesCount = count.data().count;
    active = pointer.exists ? ((pointer.get('version') as string | undefined) ?? null) : null;
  } catch {
    reachable = false;
  }
  const engine = deps.engine();
  return {
    status: reachable ? 'ok' : 'degraded',
    service: 'wildlens-functions',
    version: deps.version,
    mode: {
      runtime: emulated ? 'emulator' : 'production',
      stack: emulated ? (deps.env.WILDLENS_STACK_MODE ?? 'unknown') : null,
      notes:
        emulated && deps.env.WILDLENS_STACK_NOTES ? deps.env.WILDLENS_STACK_NOTES.split('|') : [],
    },
    firestore: { reachable, speciesCount },
    model: { active, loaded: engine.loadedVersion, backend: engine.backend },
    time: deps.now().toISOString(),
  };
}
