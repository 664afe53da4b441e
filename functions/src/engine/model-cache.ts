/**
 * Models an admin tries before promoting them (tryModel): loaded by version on demand, at most
 * `capacity` kept per instance, least recently used first out. Separate from the instance's
 * ModelEngine: trying a candidate never replaces the model hikers are served.
 */
import type { ActiveModelPointer, ServingModel } from './model-engine.js';

export interface ModelCacheDeps {
  load(pointer: ActiveModelPointer): Promise<ServingModel>;
  capacity: number;
  /** An evicted model is disposed this long after (a request may still be using it). */
  disposeDelayMs: number;
}

export class ModelCache {
  /** Insertion order is recency order: the first entry is the least recently used. */
  private readonly entries = new Map<string, Promise<ServingModel>>();

  constructor(private readonly deps: ModelCacheDeps) {}

  get versions(): string[] {
    return [...this.entries.keys()];
  }

  model(pointer: ActiveModelPointer): Promise<ServingModel> {
    const hit = this.entries.get(pointer.version);
    if (hit) {
      this.entries.delete(pointer.version);
      this.entries.set(pointer.version, hit);
      return hit;
    }
    const loading = this.deps.load(pointer);
    this.entries.set(pointer.version, loading);
    // A failed load is not kept: the next request tries again.
    loading.catch(() => {
      if (this.entries.get(pointer.version) === loading) this.entries.delete(pointer.version);
    });
    while (this.entries.size > this.deps.capacity) {
      const [oldest, evicted] = this.entries.entries().next().value as [
        string,
        Promise<ServingModel>,
      ];
      this.entries.delete(oldest);
      evicted.then(
        (model) => setTimeout(() => model.dispose(), this.deps.disposeDelayMs).unref(),
        () => {},
      );
    }
    return loading;
  }
}
