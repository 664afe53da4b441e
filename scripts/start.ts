/**
 * `npm start`: starts the whole Emulator Suite (Auth, Functions, Firestore, Storage, Hosting),
 * provisioned for this machine (online or offline, see emulators/stack.ts), with the state
 * saved by the previous `npm start` (local-state/state.ts), loads the seed data, trains a first
 * model when there is none (first run), and prints the URLs a newcomer needs. The state is
 * exported after each training run, every few minutes and on Ctrl+C.
 *
 *   npm start                 resume the saved state (or start empty the first time)
 *   npm start -- --fresh      set the saved state aside and start empty
 *   npm start -- --verbose    show the emulators' and functions' output as it comes
 */
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';
import {
  ALL_EMULATORS,
  CACHE_DIR,
  PROJECT_ID,
  REPO_ROOT,
  StackError,
  describePlan,
  emulatorPorts,
  planEmulatorStack,
  portOffset,
  type StackPlan,
} from './emulators/stack.js';
import { consoleLine } from './emulators/log-filter.js';
import { reapJavaListener, startFirebaseSuite, type FirebaseSuite } from './emulators/suite.js';
import { waitForFunctions } from './emulators/wait.js';
import { seedSpeciesCatalog } from './seed/species.js';
import { runMigrations } from './migrate.js';
import {
  describeFinishedRun,
  emulatorAdminApp,
  importFolders,
  readLabelledFolders,
  seedDatasetsFromEnv,
  startTrainingAsAdmin,
  trainingRunReporter,
} from './import-dataset.js';
import { FirstStart } from './first-start.js';
import {
  StateError,
  acquireStateLock,
  type HeldStateLock,
  type StateLock,
  exportAtomically,
  freshAdvice,
  importLosses,
  newSavedState,
  readSavedState,
  recoverInterruptedExport,
  setStateAside,
  stateDirFromEnv,
  stateLayout,
  type SavedState,
  type StateLayout,
} from './local-state/state.js';
import {
  activeRunIds,
  describeSummary,
  exportThroughHub,
  failInterruptedRuns,
  isEmulatorSuite,
  readSummary,
  removeStaleHubExportDirs,
  trainerProcesses,
  waitForExit,
} from './local-state/live.js';
import { formatDuration } from './progress.js';

const USAGE = `Usage : npm start [-- --fresh] [-- --verbose]
  --fresh    met l’état enregistré de côté (sans l’effacer) et démarre à vide
  --verbose  affiche toute la sortie des émulateurs et des fonctions (sinon : fichier journal)
Variables : WILDLENS_PORT_OFFSET, WILDLENS_STATE_DIR, WILDLENS_SEED_DATASET (dossiers séparés
par des virgules, « none » pour aucun), WILDLENS_EXPORT_INTERVAL_MINUTES (0 : pas d’export périodique),
WILDLENS_START_WAIT_MINUTES (attente des émulateurs avant d’abandonner, 4 par défaut).`;

/** The console: timestamps would be noise here, the log file has them. */
const say = (line: string): void => console.log(line);

function exportIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.WILDLENS_EXPORT_INTERVAL_MINUTES ?? '5';
  const minutes = Number(raw);
  if (!Number.isFinite(minutes) || minutes < 0)
    throw new StackError(`WILDLENS_EXPORT_INTERVAL_MINUTES invalide : « ${raw} »`);
  return minutes * 60_000;
}

/** How long the launcher waits for the emulators (the stack tests raise it: a bound of a hang). */
function startWaitMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.WILDLENS_START_WAIT_MINUTES ?? '4';
  const minutes = Number(raw);
  if (!Number.isFinite(minutes) || minutes <= 0)
    throw new StackError(`WILDLENS_START_WAIT_MINUTES invalide : « ${raw} »`);
  return minutes * 60_000;
}

function logFilePath(): string {
  const offset = portOffset();
  return path.join(CACHE_DIR, 'logs', `npm-start${offset ? `-${offset}` : ''}.log`);
}

/** The last lines of the log file: what went wrong, when the stack did not come up. */
function logTail(file: string, lines = 25): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

class LocalStack {
  private suite!: FirebaseSuite;
  private db!: Firestore;
  private ready = false;
  private stopping = false;
  /** The imported state did not come back whole: never export over the saved one. */
  private mustNotExport = false;
  private exportChain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private unwatchRuns: (() => void) | undefined;
  private lastSignalAt = 0;
  /** Stops the first start (its uploads, its wait for training) when the stack stops. */
  private readonly firstStartAbort = new AbortController();

  constructor(
    private readonly plan: StackPlan,
    private readonly layout: StateLayout,
    private readonly saved: SavedState | undefined,
    private readonly lock: HeldStateLock,
    private readonly options: { verbose: boolean; logFile: string; intervalMs: number },
  ) {}

  async run(): Promise<number> {
    const started = Date.now();
    const args = ['emulators:start', '--only', ALL_EMULATORS, '--project', PROJECT_ID];
    args.push(...this.plan.firebaseArgs);
    if (this.saved) args.push('--import', this.layout.emulators);
    const env = { ...this.plan.env, WILDLENS_TRAINER_LOG_DIR: this.layout.trainerLogs };
    this.suite = startFirebaseSuite(
      args,
      env,
      this.options.verbose
        ? { kind: 'inherit' }
        : {
            kind: 'file',
            logFile: this.options.logFile,
            onLine: (line) => {
              const shown = consoleLine(line);
              if (shown) say(shown);
            },
          },
    );
    if (this.suite.pid) this.lock.recordSuite(this.suite.pid, { ...emulatorPorts() });
    // SIGHUP: the terminal was closed.
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
      process.on(sig, () => void this.stop());

    say(
      this.saved
        ? `Démarrage des émulateurs avec l’état enregistré le ${new Date(this.saved.savedAt).toLocaleString('fr-FR')} (${describeSummary(this.saved.summary)})…`
        : 'Démarrage des émulateurs (état vide)…',
    );
    const up = await Promise.race([
      waitForFunctions(startWaitMs()).then(
        () => true,
        () => false,
      ),
      this.suite.exited.then(() => false),
    ]);
    if (!up || this.stopping) {
      if (this.stopping) return this.suite.exited;
      this.mustNotExport = true;
      say('\n✖ Les émulateurs n’ont pas démarré.');
      if (!this.options.verbose)
        say(`Fin du journal (${this.options.logFile}) :\n${logTail(this.options.logFile)}`);
      if (this.saved)
        say(
          `\nLa relecture de l’état enregistré a pu échouer (enregistré par firebase-tools ${this.saved.firebaseTools}, ` +
            `Firestore ${this.saved.stack.firestore}).\n${freshAdvice(this.layout)}`,
        );
      this.suite.signal('SIGINT');
      await this.suite.exited;
      return 1;
    }

    const ports = emulatorPorts();
    const app = emulatorAdminApp();
    this.db = getFirestore(app);
    if (this.saved) {
      const losses = importLosses(this.saved.summary, await readSummary(app));
      if (losses.length) {
        this.mustNotExport = true;
        say(
          `\n✖ L’état enregistré n’a pas été relu en entier :\n  - ${losses.join('\n  - ')}\n` +
            `${freshAdvice(this.layout)}\n  Détails : ${this.options.logFile}`,
        );
        await this.stop();
        return 1;
      }
    }
    const species = await seedSpeciesCatalog(this.db);
    // Data migrations (idempotent; also run after every deploy): a saved state may predate them.
    for (const change of await runMigrations(app)) say(change);
    const interrupted = await activeRunIds(this.db);
    if (interrupted.length) {
      await failInterruptedRuns(this.db, interrupted);
      say(
        `Entraînement interrompu par le dernier arrêt, marqué en échec : ${interrupted.join(', ')}`,
      );
    }
    this.ready = true;
    this.watchRuns();
    if (this.options.intervalMs > 0)
      this.timer = setInterval(() => void this.exportState('periodic'), this.options.intervalMs);

    const active = await this.db.doc('config/activeModel').get();
    say(
      [
        '',
        `──────────────── Wildlens : pile locale prête en ${formatDuration(Date.now() - started)} ────────────────`,
        `Mode : ${this.plan.mode}${this.plan.notes.length ? ` (${this.plan.notes.join(' ; ')})` : ''}`,
        `Pages d’administration (Hosting) : ${this.plan.env.WILDLENS_HOSTING_ORIGIN}`,
        `Santé (HTTPS) : ${this.plan.env.WILDLENS_FUNCTIONS_ORIGIN}/health`,
        `Fonctions appelables : ${this.plan.env.WILDLENS_FUNCTIONS_ORIGIN}/<nom>`,
        `Auth : 127.0.0.1:${ports.auth} · Firestore : 127.0.0.1:${ports.firestore} · Storage : 127.0.0.1:${ports.storage}`,
        this.plan.ui
          ? 'Emulator UI : http://127.0.0.1:4000'
          : 'Emulator UI : indisponible dans ce mode',
        `Catalogue : ${species} espèces · Modèle actif : ${active.exists ? String(active.get('version')) : 'aucun'}`,
        `État local : ${this.layout.root} (${this.saved ? 'repris' : 'nouveau'} ; enregistré à l’arrêt, après chaque entraînement${this.options.intervalMs ? ` et toutes les ${formatDuration(this.options.intervalMs)}` : ''})`,
        this.options.verbose
          ? 'Journaux : sur cette console (--verbose)'
          : `Journaux des émulateurs et des fonctions : ${this.options.logFile}`,
        'Ctrl+C pour tout arrêter (l’état est enregistré).',
        '─'.repeat(78),
        '',
      ].join('\n'),
    );
    void this.firstStart();
    return this.suite.exited;
  }

  /**
   * First start (no active model), or the rest of one a Ctrl+C interrupted: see first-start.ts.
   * WILDLENS_SEED_DATASET=none imports nothing, and resumes nothing.
   */
  private async firstStart(): Promise<void> {
    const dirs = seedDatasetsFromEnv();
    if (process.env.WILDLENS_SEED_DATASET?.trim() === 'none') {
      if (!(await this.db.doc('config/activeModel').get()).exists)
        say('Aucun modèle actif (WILDLENS_SEED_DATASET=none : pas d’import au démarrage).');
      return;
    }
    const firstStart = new FirstStart({
      db: this.db,
      say,
      signal: this.firstStartAbort.signal,
      readFolders: readLabelledFolders,
      importFolders,
      // One trainer process per core (up to 2): the embedding, most of a run, is shared out.
      startRun: () => startTrainingAsAdmin(Math.min(2, availableParallelism())),
      trainerLog: (runId) => path.join(this.layout.trainerLogs, `${runId}*.log`),
    });
    try {
      await firstStart.run(dirs);
    } catch (err) {
      if (this.stopping) return;
      say(
        `✖ Premier démarrage interrompu : ${err instanceof Error ? err.message : String(err)}\n` +
          '  Relancez `npm start` : il reprend là où il s’est arrêté.',
      );
    }
  }

  /** Prints the progress of every training run (first run, admin pages) and exports after each. */
  private watchRuns(): void {
    const reporters = new Map<string, (run: Record<string, unknown>) => void>();
    const finished = new Set<string>();
    let initial = true;
    this.unwatchRuns = this.db
      .collection('trainingRuns')
      .orderBy('createdAt', 'desc')
      .limit(5)
      .onSnapshot(
        (snap) => {
          for (const doc of snap.docs) {
            const run = doc.data();
            const done = run.status === 'succeeded' || run.status === 'failed';
            if (initial || finished.has(doc.id)) {
              if (done) finished.add(doc.id);
              continue;
            }
            let report = reporters.get(doc.id);
            if (!report) {
              report = trainingRunReporter((line) => say(`[entraînement] ${line}`));
              reporters.set(doc.id, report);
            }
            report(run);
            if (done) {
              finished.add(doc.id);
              say(`[entraînement] ${describeFinishedRun(run)}`);
              void this.exportState('training');
            }
          }
          initial = false;
        },
        (err) => say(`[entraînement] suivi interrompu : ${err.message}`),
      );
  }

  /** One export at a time; the saved state is replaced only by a complete export. */
  private exportState(reason: string): Promise<void> {
    if (this.mustNotExport || !this.ready) return Promise.resolve();
    const next = this.exportChain.then(async () => {
      const started = Date.now();
      try {
        await saveState(this.layout, this.plan, reason);
        const ms = Date.now() - started;
        if (reason !== 'periodic')
          say(`État enregistré (${reasonLabel(reason)}) en ${formatDuration(ms)}.`);
      } catch (err) {
        say(
          `✖ Enregistrement de l’état impossible (${reasonLabel(reason)}) : ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    });
    this.exportChain = next;
    return next;
  }

  /** Ctrl+C: stop the trainers, export, then stop the emulators. A second Ctrl+C skips the export. */
  async stop(): Promise<void> {
    // One Ctrl+C reaches this process several times: from the terminal (the whole foreground
    // process group: npm, node) and relayed by npm. Only a later one counts. (`npm start` runs
    // `node --import tsx`, not the tsx CLI: under load the CLI SIGKILLs a child that does not
    // acknowledge a signal within 60 ms, losing the export.)
    const now = Date.now();
    if (now - this.lastSignalAt < 2000) return;
    this.lastSignalAt = now;
    if (this.stopping) {
      say('Arrêt immédiat, sans enregistrer (l’état enregistré précédent est intact).');
      this.mustNotExport = true;
      this.suite.signal('SIGINT');
      this.suite.signal('SIGINT');
      return;
    }
    this.stopping = true;
    this.firstStartAbort.abort();
    clearInterval(this.timer);
    this.unwatchRuns?.();
    if (this.ready && !this.mustNotExport) {
      say('\nArrêt : enregistrement de l’état… (Ctrl+C encore pour arrêter sans enregistrer)');
      await this.stopTrainers();
      await this.exportState('exit');
    }
    this.suite.signal('SIGINT');
  }

  /** A training run cannot survive the emulators: stop its process and say so on the run. */
  private async stopTrainers(): Promise<void> {
    const firestoreHost = `127.0.0.1:${emulatorPorts().firestore}`;
    const pids = trainerProcesses(firestoreHost);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const runs = await activeRunIds(this.db).catch(() => []);
    if (runs.length) {
      await failInterruptedRuns(this.db, runs).catch(() => {});
      say(`Entraînement interrompu : ${runs.join(', ')} (à relancer au prochain démarrage).`);
    }
  }
}

/** Exports the running emulators into the state folder (atomically, see local-state/state.ts). */
async function saveState(layout: StateLayout, plan: StackPlan, reason: string): Promise<void> {
  await exportAtomically(
    layout,
    (dir) => exportThroughHub(emulatorPorts().hub, dir),
    async () =>
      newSavedState({
        reason,
        firebaseTools: firebaseToolsVersion(),
        stack: { mode: plan.mode, firestore: plan.firestore, storageRules: plan.storageRules },
        summary: await readSummary(emulatorAdminApp()),
      }),
  );
}

/**
 * The previous `npm start` of this folder was killed (SIGKILL, crash) but its emulators may
 * still run, holding the ports and the freshest state: save that state, then stop them.
 */
async function recoverOrphanStack(
  previous: StateLock,
  layout: StateLayout,
  plan: StackPlan,
): Promise<void> {
  const suitePid = previous.suitePid;
  if (!suitePid || !isEmulatorSuite(suitePid)) return;
  const ports = emulatorPorts();
  if (JSON.stringify(previous.ports) !== JSON.stringify(ports))
    throw new StateError(
      `Les émulateurs d’un \`npm start\` arrêté brutalement tournent encore (processus ${suitePid}) ` +
        `sur d’autres ports (${JSON.stringify(previous.ports)}) : arrêtez-les (kill ${suitePid}) puis relancez.`,
    );
  say(
    `Les émulateurs d’un \`npm start\` arrêté brutalement tournent encore (processus ${suitePid}) : ` +
      'enregistrement de leur état, puis arrêt.',
  );
  for (const pid of trainerProcesses(`127.0.0.1:${ports.firestore}`)) process.kill(pid, 'SIGKILL');
  try {
    await saveState(layout, plan, 'orphan');
    say('État enregistré.');
  } catch (err) {
    say(
      `✖ Enregistrement impossible (${err instanceof Error ? err.message : String(err)}) : l’état enregistré précédent est gardé.`,
    );
  }
  process.kill(-suitePid, 'SIGINT');
  await waitForExit(suitePid, 30_000);
  // What is left of its process group (function workers), as after any suite's exit.
  try {
    process.kill(-suitePid, 'SIGKILL');
  } catch {
    // the group is already empty
  }
  await waitForExit(suitePid, 10_000);
  reapJavaListener(ports.firestore);
}

function reasonLabel(reason: string): string {
  return (
    {
      exit: 'arrêt',
      training: 'fin d’entraînement',
      periodic: 'périodique',
      orphan: 'pile orpheline',
    }[reason] ?? reason
  );
}

function firebaseToolsVersion(): string {
  const pkg = JSON.parse(
    readFileSync(path.join(REPO_ROOT, 'node_modules', 'firebase-tools', 'package.json'), 'utf8'),
  ) as { version: string };
  return pkg.version;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      fresh: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    say(USAGE);
    return 0;
  }
  const plan = await planEmulatorStack();
  say(`\n${describePlan(plan)}\n`);
  const layout = stateLayout(stateDirFromEnv());
  let lock = acquireStateLock(layout);
  if (lock.previous) await recoverOrphanStack(lock.previous, layout, plan);
  if (values.fresh) {
    lock.release();
    const aside = setStateAside(layout);
    say(
      aside
        ? `--fresh : l’état précédent est mis de côté dans ${aside} (supprimez-le quand il ne sert plus).`
        : '--fresh : aucun état enregistré, démarrage à vide.',
    );
    lock = acquireStateLock(layout);
  }
  process.on('exit', lock.release);
  recoverInterruptedExport(layout);
  removeStaleHubExportDirs(REPO_ROOT);
  const saved = readSavedState(layout);
  if (saved && saved.firebaseTools !== firebaseToolsVersion())
    say(
      `Attention : état enregistré par firebase-tools ${saved.firebaseTools}, version actuelle ` +
        `${firebaseToolsVersion()} ; tentative de relecture.`,
    );
  const logFile = logFilePath();
  mkdirSync(path.dirname(logFile), { recursive: true });
  closeSync(openSync(logFile, 'w'));
  const stack = new LocalStack(plan, layout, saved, lock, {
    verbose: values.verbose,
    logFile,
    intervalMs: exportIntervalMs(),
  });
  return stack.run();
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof StackError || err instanceof StateError ? err.message : err);
    process.exit(1);
  },
);
