import * as logger from 'firebase-functions/logger';
import type { DialogueParameters, PhotoRegion } from '@wildlens/shared';
import { errorSummary, fail } from '../common/errors.js';

/** `config/activeModel`: which model version the functions serve. */
export interface ActiveModelPointer {
  version: string;
  storagePrefix: string;
}

/** What a loaded model offers the handlers (a thin view of @wildlens/model's FootprintModel). */
export interface ServingModel {
  version: string;
  /** With a `region`, only the framed print is classified (as a crop). */
  predict(image: Uint8Array, options?: { region?: PhotoRegion }): Promise<ModelPrediction>;
  /** The manifest's dialogue parameters; null (or absent) for models trained before them. */
  dialogue?: DialogueParameters | null;
  dispose(): void;
}

export interface ModelPrediction {
  verdict: 'identified' | 'uncertain' | 'not_a_footprint';
  top: { speciesId: string; probability: number }[];
  probabilities: Record<string, number>;
  /** The kind of photo the model recognised ('crop', 'field'…), when it tells them apart. */
  domain?: string;
  timingsMs: { preprocess: number; inference: number };
}

export interface ModelEngineDeps {
  readPointer(): Promise<ActiveModelPointer | null>;
  load(pointer: ActiveModelPointer): Promise<ServingModel>;
  /** Reports what is loaded (health endpoint). */
  onLoaded?(version: string | null): void;
  now(): number;
  /** How often the pointer is re-read, so a promoted model is picked up without redeploy. */
  recheckMs: () => number;
  /** A replaced model is disposed this long after the swap (requests may still use it). */
  disposeDelayMs?: number;
  /**
   * How long a request waits for a model being loaded (ms). Past it, the request answers
   * `unavailable` (or is served by the model loaded before, when a newer one is loading) and
   * the load goes on for the next requests: a cold start never runs into the function's
   * timeout (issue 20, finding 22). Unbounded when absent.
   */
  loadWaitMs?: () => number;
}

/** What a client is told while this instance is still loading the model, and when to retry. */
export const MODEL_LOADING_RETRY_SECONDS = 10;
export const MODEL_LOADING_MESSAGE_FR = `Le modèle d'identification est en cours de chargement : réessayez dans ${MODEL_LOADING_RETRY_SECONDS} s.`;

const WAITED_TOO_LONG = Symbol('waited too long');

/**
 * The handlers' view of a loaded model. A photo the model cannot decode is the photo's fault:
 * it is refused with the inspector's French rejection (`rejection()`), never `internal`.
 */
export function servingModel(
  version: string,
  model: {
    predict(image: Uint8Array, options?: { region?: PhotoRegion }): Promise<ModelPrediction>;
    dispose(): void;
  },
  decodeFailure: { matches(err: unknown): boolean; rejection(): Error },
  dialogue: DialogueParameters | null = null,
): ServingModel {
  return {
    version,
    dialogue,
    predict: async (image, options) => {
      try {
        return await model.predict(image, options);
      } catch (err) {
        if (decodeFailure.matches(err)) throw decodeFailure.rejection();
        throw err;
      }
    },
    dispose: () => model.dispose(),
  };
}

export const NO_MODEL_MESSAGE_FR =
  "Aucun modèle n'est encore entraîné : l'identification sera disponible dès qu'un modèle aura été publié.";

/**
 * Holds the instance's model. Loaded once and shared: concurrent requests await the same
 * in-flight promise; the pointer is re-read at most every `recheckMs`. A model that fails to
 * load (missing or corrupt files) never replaces a working one: the previous model keeps
 * serving and the failure is logged as `engine.load_failed`.
 */
export class ModelEngine {
  private current: ServingModel | null = null;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<ServingModel> | null = null;

  constructor(private readonly deps: ModelEngineDeps) {}

  get loadedVersion(): string | null {
    return this.current?.version ?? null;
  }

  /**
   * The model to use for this request; throws `failed-precondition` when none exists, and
   * `unavailable` (details.retryAfterSeconds) when none is ready within loadWaitMs.
   */
  async model(): Promise<ServingModel> {
    if (this.current && this.deps.now() - this.checkedAt < this.deps.recheckMs()) {
      return this.current;
    }
    this.inflight ??= this.refresh().finally(() => {
      this.inflight = null;
    });
    const waitMs = this.deps.loadWaitMs?.();
    if (waitMs === undefined) return this.inflight;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<typeof WAITED_TOO_LONG>((resolve) => {
      timer = setTimeout(resolve, waitMs, WAITED_TOO_LONG);
    });
    try {
      const outcome = await Promise.race([this.inflight, waited]);
      if (outcome !== WAITED_TOO_LONG) return outcome;
    } finally {
      clearTimeout(timer);
    }
    // A newer version still loading: the one loaded before serves meanwhile.
    if (this.current) return this.current;
    logger.warn('engine.still_loading', { waitedMs: waitMs });
    fail('unavailable', MODEL_LOADING_MESSAGE_FR, {
      retryAfterSeconds: MODEL_LOADING_RETRY_SECONDS,
    });
  }

  private async refresh(): Promise<ServingModel> {
    let pointer: ActiveModelPointer | null;
    try {
      pointer = await this.deps.readPointer();
    } catch (err) {
      // Firestore hiccup: keep serving what we have, retry on the next request.
      if (this.current) {
        logger.warn('engine.pointer_unreadable', errorSummary(err));
        return this.current;
      }
      throw err;
    }
    this.checkedAt = this.deps.now();
    if (!pointer) {
      // No active model any more (an admin withdrew it): stop serving the old one.
      const previous = this.current;
      this.current = null;
      this.deps.onLoaded?.(null);
      if (previous)
        setTimeout(() => previous.dispose(), this.deps.disposeDelayMs ?? 120_000).unref();
      fail('failed-precondition', NO_MODEL_MESSAGE_FR);
    }
    if (this.current?.version === pointer.version) return this.current;

    const started = this.deps.now();
    let next: ServingModel;
    try {
      next = await this.deps.load(pointer);
    } catch (err) {
      logger.error('engine.load_failed', {
        version: pointer.version,
        keeping: this.current?.version ?? null,
        ...errorSummary(err),
      });
      if (this.current) return this.current;
      fail(
        'unavailable',
        "Le modèle d'identification n'a pas pu être chargé. Réessayez dans quelques instants.",
      );
    }
    const previous = this.current;
    this.current = next;
    this.deps.onLoaded?.(next.version);
    logger.info('engine.loaded', {
      version: next.version,
      previous: previous?.version ?? null,
      loadMs: this.deps.now() - started,
    });
    if (previous) {
      setTimeout(() => previous.dispose(), this.deps.disposeDelayMs ?? 120_000).unref();
    }
    return next;
  }
}

/** Validates the Firestore pointer document (null when absent or malformed). */
export function parsePointer(data: Record<string, unknown> | undefined): ActiveModelPointer | null {
  if (!data) return null;
  const { version, storagePrefix } = data;
  if (typeof version !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(version)) return null;
  const prefix =
    typeof storagePrefix === 'string' && storagePrefix ? storagePrefix : `models/${version}/`;
  if (!prefix.startsWith('models/') || prefix.includes('..')) return null;
  return { version, storagePrefix: prefix.endsWith('/') ? prefix : `${prefix}/` };
}
