import { FieldValue, type DocumentReference } from 'firebase-admin/firestore';
import type { Retry } from './resilience.js';

export interface RunReporterOptions {
  retry: Retry;
  /** A periodic write failed even after retries: its fields are kept for the next write. */
  onWriteError: (err: unknown) => void;
  now?: () => Date;
  /** This task's index: each task records its own count, the run's `progress.done` is their sum. */
  taskIndex?: number;
  minIntervalMs?: number;
}

/**
 * Throttled writer of the run document: live progress must not turn into a write per image
 * (Firestore sustains ~1 write/s per document), so fields are merged and written at most every
 * `minIntervalMs`; a heartbeat keeps `heartbeatAt` fresh so the reaper can tell a live run
 * from a dead one. Every write is idempotent, so the retry policy may repeat it: fields are set
 * to values, the curve grows by arrayUnion, and the photo count is this task's absolute count
 * (`progress.byTask.{i}`) with `progress.done` recomputed from all tasks' counts in a
 * transaction, never an increment that a retried write would apply twice.
 */
export class RunReporter {
  private pending: Record<string, unknown> = {};
  private curve: unknown[] = [];
  private done = 0;
  private writtenDone = 0;
  private lastWrite = 0;
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly now: () => Date;
  private readonly taskIndex: number;
  private readonly minIntervalMs: number;
  writes = 0;

  constructor(
    private readonly ref: DocumentReference,
    private readonly options: RunReporterOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.taskIndex = options.taskIndex ?? 0;
    this.minIntervalMs = options.minIntervalMs ?? 500;
  }

  startHeartbeat(everyMs = 10_000): void {
    this.heartbeat = setInterval(() => this.update({}), everyMs);
    this.heartbeat.unref();
  }

  /** Merges fields (dotted paths allowed) into the next write. */
  update(fields: Record<string, unknown>): void {
    Object.assign(this.pending, fields);
    this.schedule();
  }

  /** Counts photos done by this task (several shard tasks share the run's counter). */
  addDone(n: number): void {
    this.done += n;
    this.schedule();
  }

  appendCurve(point: { epoch: number; loss: number; accuracy: number | null }): void {
    this.curve.push(point);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastWrite + this.minIntervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.chain = this.write().catch((err: unknown) => this.options.onWriteError(err));
    }, wait);
  }

  private write(): Promise<void> {
    const fields: Record<string, unknown> = { ...this.pending, heartbeatAt: this.now() };
    const curve = this.curve;
    if (curve.length) fields.curve = FieldValue.arrayUnion(...curve);
    const done = this.done;
    this.pending = {};
    this.curve = [];
    this.lastWrite = Date.now();
    const ref = this.ref;
    const send = (): Promise<unknown> =>
      done === this.writtenDone
        ? ref.update(fields)
        : ref.firestore.runTransaction(async (tx) => {
            const snap = await tx.get(ref);
            const byTask: Record<string, number> = {
              ...((snap.get('progress.byTask') as Record<string, number> | undefined) ?? {}),
              [this.taskIndex]: done,
            };
            const total = Object.values(byTask).reduce((sum, n) => sum + n, 0);
            tx.update(ref, { ...fields, 'progress.byTask': byTask, 'progress.done': total });
          });
    const written = this.chain.then(() =>
      this.options.retry('firestore.run_progress', send).then(
        () => {
          this.writes++;
          this.writtenDone = Math.max(this.writtenDone, done);
        },
        (err: unknown) => {
          // Kept for the next write: a phase change or a curve point is never lost.
          this.pending = { ...fields, ...this.pending };
          delete this.pending.curve;
          this.curve = [...curve, ...this.curve];
          throw err;
        },
      ),
    );
    return written;
  }

  /** Writes whatever is pending now and stops the heartbeat; throws if that write fails. */
  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.chain;
    await this.write();
  }
}
