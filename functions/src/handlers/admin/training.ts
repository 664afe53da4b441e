import type { Firestore } from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import { COLLECTIONS, speciesIds } from '@wildlens/shared';
import {
  ACTIVE_RUN_STATUSES,
  PHASE_LABELS_FR,
  STALE_RUN_ERROR_FR,
  isStaleRun,
  toDate,
  type RunStatus,
  type StalenessLimits,
} from '@wildlens/trainer/run-state';
import { fail, errorSummary } from '../../common/errors.js';
import { runContendedTransaction } from '../../common/transactions.js';
import { parseInput, startTrainingRunRequest } from '../../api/schemas.js';
import type { TrainingLauncher } from '../../training/launcher.js';

export interface TrainingRunDeps {
  db: Firestore;
  launcher: TrainingLauncher;
  now: () => Date;
  staleness: StalenessLimits;
  newRunId?: () => string;
  /** Emulators only: lets the e2e tests make the trainer crash at a given phase. */
  allowDebug?: boolean;
}

const LOCK_DOC = `${COLLECTIONS.config}/trainingLock`;

function runView(snap: FirebaseFirestore.DocumentSnapshot): {
  status: RunStatus;
  createdAt?: Date;
  startedAt?: Date;
  heartbeatAt?: Date;
} {
  return {
    status: snap.get('status') as RunStatus,
    createdAt: toDate(snap.get('createdAt')),
    startedAt: toDate(snap.get('startedAt')),
    heartbeatAt: toDate(snap.get('heartbeatAt')),
  };
}

/**
 * Creates a queued run and launches the trainer. One run at a time: a lock document names the
 * active run and is taken in a transaction; a stale active run (no heartbeat) is marked failed
 * on the way, so a crashed trainer never blocks training forever.
 */
export async function startTrainingRun(
  uid: string,
  data: unknown,
  deps: TrainingRunDeps,
): Promise<{ runId: string }> {
  const runs = deps.db.collection(COLLECTIONS.trainingRuns);
  const runRef = deps.newRunId ? runs.doc(deps.newRunId()) : runs.doc();
  const request = parseInput(startTrainingRunRequest, data);
  const crashAt = request?.simulateCrashAt;
  // Emulators only: run the trainer as N task processes, like a sharded Cloud Run job.
  const tasks = deps.allowDebug ? request?.simulateTasks : undefined;
  const datasetCounts = await countTrainingImages(deps.db);

  await runContendedTransaction(deps.db, async (tx) => {
    const lock = await tx.get(deps.db.doc(LOCK_DOC));
    const activeId = lock.exists ? (lock.get('runId') as string | undefined) : undefined;
    if (activeId) {
      const active = await tx.get(runs.doc(activeId));
      if (active.exists && ACTIVE_RUN_STATUSES.includes(active.get('status') as RunStatus)) {
        if (!isStaleRun(runView(active), deps.now(), deps.staleness))
          fail('failed-precondition', 'Un entraînement est déjà en cours : attendez sa fin.', {
            runId: activeId,
          });
        tx.update(active.ref, {
          status: 'failed',
          error: STALE_RUN_ERROR_FR,
          finishedAt: deps.now(),
        });
      }
    }
    const now = deps.now();
    tx.set(deps.db.doc(LOCK_DOC), { runId: runRef.id, at: now });
    tx.create(runRef, {
      status: 'queued',
      phase: 'queued',
      phaseLabel: PHASE_LABELS_FR.queued,
      progress: { done: 0, total: 0 },
      curve: [],
      datasetCounts,
      createdAt: now,
      requestedBy: uid,
      ...(deps.allowDebug && typeof crashAt === 'string' ? { debug: { crashAt } } : {}),
    });
  });

  try {
    await deps.launcher.launch(runRef.id, tasks ? { taskCount: tasks } : undefined);
  } catch (err) {
    logger.error('training.launch_failed', { runId: runRef.id, ...errorSummary(err) });
    await runRef.update({
      status: 'failed',
      error: 'Impossible de lancer l’entraînement (tâche Cloud Run indisponible).',
      finishedAt: deps.now(),
    });
    fail('unavailable', 'Impossible de lancer l’entraînement. Réessayez plus tard.');
  }
  logger.info('training.started', { runId: runRef.id, by: uid, datasetCounts });
  return { runId: runRef.id };
}

async function countTrainingImages(db: Firestore): Promise<Record<string, number>> {
  const images = db.collection(COLLECTIONS.trainingImages);
  const entries = await Promise.all(
    speciesIds().map(async (id) => {
      const agg = await images.where('speciesId', '==', id).count().get();
      return [id, agg.data().count] as const;
    }),
  );
  return Object.fromEntries(entries.filter(([, n]) => n > 0));
}

/** Marks every active run without a sign of life as failed; returns their ids. */
export async function reapStaleRuns(
  deps: Pick<TrainingRunDeps, 'db' | 'now' | 'staleness'>,
): Promise<string[]> {
  const snap = await deps.db
    .collection(COLLECTIONS.trainingRuns)
    .where('status', 'in', [...ACTIVE_RUN_STATUSES])
    .get();
  const reaped: string[] = [];
  for (const doc of snap.docs) {
    const failed = await deps.db.runTransaction(async (tx) => {
      const current = await tx.get(doc.ref);
      if (!ACTIVE_RUN_STATUSES.includes(current.get('status') as RunStatus)) return false;
      if (!isStaleRun(runView(current), deps.now(), deps.staleness)) return false;
      tx.update(doc.ref, { status: 'failed', error: STALE_RUN_ERROR_FR, finishedAt: deps.now() });
      return true;
    });
    if (failed) reaped.push(doc.id);
  }
  if (reaped.length) logger.warn('training.reaped', { runIds: reaped });
  return reaped;
}
