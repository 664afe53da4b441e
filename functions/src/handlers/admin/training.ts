import type { Firestore } from 'firebase-admin/firestore';
import { HttpsError } from 'firebase-functions/https';
import * as logger from 'firebase-functions/logger';
import { COLLECTIONS, speciesIds, type TrainingSource } from '@wildlens/shared';
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
import { noParameters, parseInput, startTrainingRunRequest } from '../../api/schemas.js';
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

/** The startTrainingRun callable: an admin's run (test hooks under the emulators only). */
export async function startTrainingRun(
  uid: string,
  data: unknown,
  deps: TrainingRunDeps,
): Promise<{ runId: string }> {
  const request = parseInput(startTrainingRunRequest, data);
  return launchTrainingRun(
    {
      requestedBy: uid,
      trigger: 'admin',
      crashAt: request?.simulateCrashAt,
      // Emulators only: run the trainer as N task processes, like a sharded Cloud Run job.
      tasks: deps.allowDebug ? request?.simulateTasks : undefined,
    },
    deps,
  );
}

export interface RunRequest {
  /** The admin who asked; null for the scheduled retraining. */
  requestedBy: string | null;
  trigger: 'admin' | 'schedule';
  crashAt?: string;
  tasks?: number;
  /** Why the scheduler started it: the new images it counted. */
  newImages?: NewImages;
}

/**
 * Creates a queued run and launches the trainer: the one way a run starts, whoever asks. One
 * run at a time: a lock document names the active run and is taken in a transaction; a stale
 * active run (no heartbeat) is marked failed on the way, so a crashed trainer never blocks
 * training forever. The trainer applies the promotion rule at the end, whoever started it.
 */
export async function launchTrainingRun(
  request: RunRequest,
  deps: TrainingRunDeps,
): Promise<{ runId: string }> {
  const runs = deps.db.collection(COLLECTIONS.trainingRuns);
  const runRef = deps.newRunId ? runs.doc(deps.newRunId()) : runs.doc();
  const { crashAt, tasks } = request;
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
      requestedBy: request.requestedBy,
      trigger: request.trigger,
      ...(request.newImages ? { newImages: request.newImages } : {}),
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
  logger.info('training.started', {
    runId: runRef.id,
    by: request.requestedBy,
    trigger: request.trigger,
    datasetCounts,
  });
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

/** Training images recorded after a moment, by source. */
export interface NewImages {
  total: number;
  bySource: Record<TrainingSource, number>;
}

/**
 * Images recorded after `since` (all of them when null), by source. A run's snapshot is every
 * image created up to the run's creation, so these are exactly the images no run created
 * before `since` has seen. Images recorded before sources existed count as uploads.
 */
export async function countNewImages(db: Firestore, since: Date | null): Promise<NewImages> {
  const images = db.collection(COLLECTIONS.trainingImages);
  const recent = since ? images.where('createdAt', '>', since) : images;
  const count = async (query: FirebaseFirestore.Query) => (await query.count().get()).data().count;
  const [total, imported, observed] = await Promise.all([
    count(recent),
    count(recent.where('source', '==', 'import')),
    count(recent.where('source', '==', 'observation')),
  ]);
  return {
    total,
    bySource: { upload: total - imported - observed, import: imported, observation: observed },
  };
}

/** When the active model's dataset snapshot was taken (its run's creation), if there is one. */
export async function activeModelSnapshot(
  db: Firestore,
): Promise<{ version: string; since: Date } | null> {
  const pointer = await db.collection(COLLECTIONS.config).doc('activeModel').get();
  const version = pointer.get('version') as string | undefined;
  if (!version) return null;
  const model = await db.collection(COLLECTIONS.models).doc(version).get();
  const runId = model.get('runId') as string | undefined;
  const run = runId ? await db.collection(COLLECTIONS.trainingRuns).doc(runId).get() : undefined;
  // A model without its run (installed by hand) counts from its activation.
  const since =
    toDate(run?.get('createdAt')) ??
    toDate(model.get('createdAt')) ??
    toDate(pointer.get('activatedAt'));
  return since ? { version, since } : null;
}

export interface TrainingBacklog {
  activeModel: { version: string; since: string } | null;
  newImages: NewImages;
  autoRetrain: { minNew: number };
}

/** « N nouvelles photos depuis le modèle actif », by source, for the training page. */
export async function getTrainingBacklog(
  data: unknown,
  deps: { db: Firestore; autoRetrainMinNew: number },
): Promise<TrainingBacklog> {
  parseInput(noParameters, data);
  const active = await activeModelSnapshot(deps.db);
  return {
    activeModel: active ? { version: active.version, since: active.since.toISOString() } : null,
    newImages: await countNewImages(deps.db, active?.since ?? null),
    autoRetrain: { minNew: deps.autoRetrainMinNew },
  };
}

export type AutoRetrainOutcome =
  | { started: string; newImages: NewImages }
  | {
      started: null;
      reason: 'disabled' | 'not-enough-new-images' | 'run-active';
      newImages?: NewImages;
    };

/**
 * The scheduled retraining: starts a run through launchTrainingRun (the same lock, run
 * document and trainer, hence the same promotion rule as an admin's run) once at least
 * `minNew` images arrived since the active model's snapshot, and as many since the latest
 * run's, so a run that was not promoted (or failed) is not repeated on the same images every
 * hour. Off when `minNew` is 0.
 */
export async function autoRetrain(
  deps: TrainingRunDeps & { minNew: number },
): Promise<AutoRetrainOutcome> {
  if (deps.minNew <= 0) return { started: null, reason: 'disabled' };
  const active = await activeModelSnapshot(deps.db);
  const newImages = await countNewImages(deps.db, active?.since ?? null);
  const latest = await deps.db
    .collection(COLLECTIONS.trainingRuns)
    .orderBy('createdAt', 'desc')
    .limit(1)
    .get();
  const latestAt = toDate(latest.docs[0]?.get('createdAt'));
  const sinceLatest =
    latestAt && (!active || latestAt > active.since)
      ? (await countNewImages(deps.db, latestAt)).total
      : newImages.total;
  if (newImages.total < deps.minNew || sinceLatest < deps.minNew) {
    logger.info('training.auto_skipped', { newImages, sinceLatest, minNew: deps.minNew });
    return { started: null, reason: 'not-enough-new-images', newImages };
  }
  try {
    const { runId } = await launchTrainingRun(
      { requestedBy: null, trigger: 'schedule', newImages },
      deps,
    );
    return { started: runId, newImages };
  } catch (err) {
    // An admin's run (or the previous scheduled one) holds the lock: try again next time.
    if (err instanceof HttpsError && err.code === 'failed-precondition') {
      logger.info('training.auto_skipped', { reason: 'run-active', newImages });
      return { started: null, reason: 'run-active', newImages };
    }
    throw err;
  }
}
