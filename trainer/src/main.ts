/**
 * Trainer entry point (Cloud Run job container, or a local child process under the
 * emulators). Reads WILDLENS_RUN_ID, trains, exports and registers the model; on any error
 * marks the run failed with a French message and exits non-zero.
 *
 * Environment: WILDLENS_RUN_ID (required), CLOUD_RUN_TASK_INDEX / CLOUD_RUN_TASK_COUNT (set by
 * Cloud Run for sharded executions), WILDLENS_STORAGE_BUCKET, WILDLENS_TRAINER_BACKBONE,
 * WILDLENS_TRAINER_CALIBRATION_FOLDS.
 */
import { initBackend } from '@wildlens/model';
import { trainerBucket, trainerFirestore } from './firebase.js';
import { resilientBucket, trainerRetry } from './resilience.js';
import { DEFAULT_TRAINER_OPTIONS, markRunFailed, runTrainer, type TrainerOptions } from './run.js';

function intEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new Error(`${name} invalide : « ${raw} »`);
  return value;
}

export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): TrainerOptions {
  return {
    ...DEFAULT_TRAINER_OPTIONS,
    backboneId: env.WILDLENS_TRAINER_BACKBONE || DEFAULT_TRAINER_OPTIONS.backboneId,
    calibrationFolds: intEnv(
      'WILDLENS_TRAINER_CALIBRATION_FOLDS',
      DEFAULT_TRAINER_OPTIONS.calibrationFolds,
      0,
      10,
    ),
  };
}

function log(event: string, data: Record<string, unknown> = {}): void {
  // One JSON line per event: Cloud Logging parses it as a structured entry. elapsedMs (since
  // the process started: performance.now()'s origin) shows where a run spends its time, cpuMs
  // (this process's CPU time) what it costs whatever else the machine runs.
  const elapsedMs = Math.round(performance.now());
  const { user, system } = process.cpuUsage();
  const cpuMs = Math.round((user + system) / 1000);
  const severity = event === 'trainer.retry' ? 'WARNING' : 'INFO';
  console.log(JSON.stringify({ severity, message: event, elapsedMs, cpuMs, ...data }));
}

async function main(): Promise<number> {
  const runId = process.env.WILDLENS_RUN_ID;
  if (!runId) {
    console.error('WILDLENS_RUN_ID manquant : identifiant de l’entraînement à exécuter.');
    return 2;
  }
  const db = trainerFirestore();
  const retry = trainerRetry(log);
  try {
    const taskIndex = intEnv('CLOUD_RUN_TASK_INDEX', 0, 0, 9999);
    const taskCount = intEnv('CLOUD_RUN_TASK_COUNT', 1, 1, 10000);
    const backend = await initBackend();
    log('trainer.start', { runId, taskIndex, taskCount, backend: backend.name });
    // Test hook: only against the emulators, read from the run document (set by the e2e tests).
    const crashAt = process.env.FIRESTORE_EMULATOR_HOST
      ? (process.env.WILDLENS_TRAINER_CRASH_AT ??
        ((await retry('firestore.read_run', () => db.doc(`trainingRuns/${runId}`).get())).get(
          'debug.crashAt',
        ) as string | undefined))
      : undefined;
    const outcome = await runTrainer({
      db,
      bucket: resilientBucket(trainerBucket(), retry),
      runId,
      taskIndex,
      taskCount,
      options: optionsFromEnv(),
      now: () => new Date(),
      log,
      retry,
      crashAt,
    });
    log('trainer.finished', { runId, taskIndex, ...outcome });
    return 0;
  } catch (err) {
    console.error(
      JSON.stringify({
        severity: 'ERROR',
        message: 'trainer.failed',
        runId,
        error: err instanceof Error ? err.stack : String(err),
      }),
    );
    await markRunFailed(db, runId, err, new Date(), retry).catch((e: unknown) =>
      console.error('impossible de marquer l’entraînement en échec', e),
    );
    return 1;
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
