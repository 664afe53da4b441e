import { FieldValue, type DocumentReference } from 'firebase-admin/firestore';

/**
 * Throttled writer of the run document: live progress must not turn into a write per image
 * (Firestore sustains ~1 write/s per document), so fields are merged and written at most every
 * `minIntervalMs`; a heartbeat keeps `heartbeatAt` fresh so the reaper can tell a live run
 * from a dead one.
 */
export class RunReporter {
  private pending: Record<string, unknown> = {};
  private curve: unknown[] = [];
  private doneDelta = 0;
  private lastWrite = 0;
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  writes = 0;

  constructor(
    private readonly ref: DocumentReference,
    private readonly now: () => Date = () => new Date(),
    private readonly minIntervalMs = 500,
  ) {}

  startHeartbeat(everyMs = 10_000): void {
    this.heartbeat = setInterval(() => this.update({}), everyMs);
    this.heartbeat.unref();
  }

  /** Merges fields (dotted paths allowed) into the next write. */
  update(fields: Record<string, unknown>): void {
    Object.assign(this.pending, fields);
    this.schedule();
  }

  /** Adds to progress.done with an increment: several shard tasks share the counter. */
  addDone(n: number): void {
    this.doneDelta += n;
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
      void this.write();
    }, wait);
  }

  private write(): Promise<void> {
    const fields: Record<string, unknown> = { ...this.pending, heartbeatAt: this.now() };
    if (this.doneDelta) fields['progress.done'] = FieldValue.increment(this.doneDelta);
    if (this.curve.length) fields.curve = FieldValue.arrayUnion(...this.curve);
    this.pending = {};
    this.doneDelta = 0;
    this.curve = [];
    this.lastWrite = Date.now();
    this.chain = this.chain
      .then(() => this.ref.update(fields))
      .then(() => {
        this.writes++;
      });
    return this.chain;
  }

  /** Writes whatever is pending now and stops the heartbeat. */
  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.write();
  }
}
