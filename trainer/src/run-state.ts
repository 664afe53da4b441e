/**
 * States of a training run (trainingRuns/{runId}) shared by the functions (start, reaper) and
 * the trainer, so both sides agree on what "active" and "stale" mean.
 */
export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed';
export type RunPhase =
  'queued' | 'loading' | 'embedding' | 'training' | 'evaluating' | 'exporting' | 'done';

export const ACTIVE_RUN_STATUSES: readonly RunStatus[] = ['queued', 'running'];

/** French labels shown by the admin pages next to the phase code. */
export const PHASE_LABELS_FR: Record<RunPhase, string> = {
  queued: 'En attente de démarrage',
  loading: 'Chargement du jeu d’entraînement',
  embedding: 'Extraction des caractéristiques',
  training: 'Entraînement',
  evaluating: 'Évaluation',
  exporting: 'Export du modèle',
  done: 'Terminé',
};

const TRANSITIONS: Record<RunStatus, readonly RunStatus[]> = {
  queued: ['running', 'failed'],
  running: ['running', 'succeeded', 'failed'],
  succeeded: [],
  failed: [],
};

export function canTransition(from: RunStatus, to: RunStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export interface StalenessLimits {
  /** A running run whose last heartbeat is older than this is dead. */
  heartbeatTimeoutMs: number;
  /** A queued run the launcher never started (job quota, crash before the first write). */
  queuedTimeoutMs: number;
}

export const DEFAULT_STALENESS: StalenessLimits = {
  heartbeatTimeoutMs: 2 * 60_000,
  queuedTimeoutMs: 5 * 60_000,
};

export interface RunTimes {
  status: RunStatus;
  createdAt?: Date;
  heartbeatAt?: Date;
  startedAt?: Date;
}

/** True when an active run shows no sign of life within the limits (it will never finish). */
export function isStaleRun(run: RunTimes, now: Date, limits = DEFAULT_STALENESS): boolean {
  const age = (at: Date | undefined): number =>
    at ? now.getTime() - at.getTime() : Number.POSITIVE_INFINITY;
  if (run.status === 'queued') return age(run.createdAt) > limits.queuedTimeoutMs;
  if (run.status === 'running')
    return age(run.heartbeatAt ?? run.startedAt ?? run.createdAt) > limits.heartbeatTimeoutMs;
  return false;
}

export const STALE_RUN_ERROR_FR =
  'L’entraînement ne donne plus signe de vie (processus arrêté ou délai dépassé) : marqué en échec.';

/**
 * Model version: UTC timestamp safe in Storage paths and document ids, then the run id prefix
 * so two runs in the same second stay distinct. E.g. 2026-11-26T10-40-12Z-a1b2c3d4.
 */
export function modelVersionFor(date: Date, runId: string): string {
  const stamp = date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/:/g, '-');
  const suffix = runId.replace(/[^A-Za-z0-9]/g, '').slice(0, 8);
  return `${stamp}-${suffix}`;
}

/** Firestore Timestamp, Date or undefined → Date | undefined (documents are read untyped). */
export function toDate(value: unknown): Date | undefined {
  if (value instanceof Date) return value;
  if (value && typeof (value as { toDate?: unknown }).toDate === 'function')
    return (value as { toDate(): Date }).toDate();
  return undefined;
}
