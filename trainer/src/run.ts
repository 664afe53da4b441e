import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DocumentReference, Firestore } from 'firebase-admin/firestore';
import {
  AUTO_BACKBONE_ID,
  basisSampleOf,
  MIRROR_VIEW,
  PHOTO_VIEW,
  resolveBackboneId,
  embedImages,
  loadBackbone,
  prepareFeaturizer,
  readModelData,
  saveModel,
  sha256Hex,
  syntheticNegativeImages,
  trainFootprintModel,
  type EmbeddedImage,
  type FootprintModel,
  type ProjectionBases,
  type TrainingImage,
} from '@wildlens/model';
import {
  COLLECTIONS,
  UNSPECIFIED_DOMAIN,
  mapLimit,
  parseDomain,
  storagePrefixReader,
  type TrainingSource,
} from '@wildlens/shared';
import {
  BENCHMARK,
  confusionForFirestore,
  judgeOnBenchmark,
  splitBenchmark,
  type BenchmarkJudgement,
} from './benchmark.js';
import { RunReporter } from './progress.js';
import { imageSource, provenanceCounts } from './provenance.js';
import { completeRunAndMaybePromote, modelStoragePrefix, readActiveModel } from './registry.js';
import { ErasedImageError, checkRecords, skippingErased } from './erased-images.js';
import { isNotFound, trainerRetry, type Retry, type TrainerBucket } from './resilience.js';
import { PHASE_LABELS_FR, modelVersionFor, toDate, type RunPhase } from './run-state.js';
import {
  StorageBasesCache,
  StorageEmbeddingCache,
  StorageFitExchange,
} from './storage-embedding-cache.js';

export interface TrainerOptions {
  backboneId: string;
  /** Folds of the out-of-fold pass that calibrates the final model (temperature, thresholds). */
  calibrationFolds: number;
  seed: number;
}

export const DEFAULT_TRAINER_OPTIONS: TrainerOptions = {
  backboneId: AUTO_BACKBONE_ID,
  calibrationFolds: 5,
  seed: 1,
};

export interface TrainerDeps {
  db: Firestore;
  /** Storage through the trainer's retry policy (resilience.ts). */
  bucket: TrainerBucket;
  runId: string;
  /** Cloud Run job task (CLOUD_RUN_TASK_INDEX / CLOUD_RUN_TASK_COUNT); 0 / 1 when not sharded. */
  taskIndex: number;
  taskCount: number;
  options: TrainerOptions;
  now: () => Date;
  log: (event: string, data?: Record<string, unknown>) => void;
  /** The retry policy of Firestore calls (default: trainerRetry(log), as the bucket's). */
  retry?: Retry;
  /**
   * Test hook (emulators only): throw when this phase starts, or with `embedding:N` once N
   * photos are embedded (what a restarted run then finds in the cache).
   */
  crashAt?: string;
  /** Test hooks: where a test pauses the run to erase a photo under it (no sleeps). */
  hooks?: TrainerHooks;
}

export interface TrainerHooks {
  /** Awaited before a training photo is downloaded. */
  beforePhotoDownload?: (imageId: string) => Promise<void>;
  /** Awaited before an image's embeddings are written to the cache (by its stored hash). */
  beforeEmbeddingWrite?: (imageSha256: string) => Promise<void>;
}

export type TrainerOutcome =
  | { kind: 'trained'; modelVersion: string; promoted: boolean; benchmarkTop1: number }
  | { kind: 'shard-done' }
  | { kind: 'skipped'; reason: string };

/** An error whose French message is shown as is on the run document. */
export class TrainerError extends Error {
  constructor(readonly messageFr: string) {
    super(messageFr);
  }
}

/** Feature rows of each training photo (@wildlens/model's recipe): the photo and its mirror. */
export const TRAINING_VIEWS = [PHOTO_VIEW, MIRROR_VIEW];

/**
 * Share of the training photos coming from domains the active model was never trained on past
 * which its bases are not reused: they were fitted without a single photo of that kind (the
 * first start's crop-only model, then the field photos: 80 % of the next training set), so
 * the features would describe those photos with directions fitted on others. A few photos of
 * a new kind (one upload without a domain) do not make every cached row obsolete.
 */
export const NEW_DOMAIN_REFIT_SHARE = 0.25;

/**
 * The active model's projection bases when it uses this backbone and was trained on the kinds
 * of photos of this training set: reusing them keeps every cached feature row valid (a
 * retrain then computes only new photos). Otherwise (no active model, unreadable, another
 * backbone, new domains past NEW_DOMAIN_REFIT_SHARE) no bases, and `reason` says why.
 */
export async function activeModelBases(
  db: Firestore,
  bucket: TrainerBucket,
  retry: Retry,
  backboneId: string,
  trainingDomains: Record<string, number>,
): Promise<{ bases?: ProjectionBases; reason: string }> {
  const pointer = await retry('firestore.read_active_model', () => readActiveModel(db));
  if (!pointer) return { reason: 'no active model' };
  let data: Awaited<ReturnType<typeof readModelData>>;
  try {
    data = await readModelData(
      storagePrefixReader(bucket, pointer.storagePrefix || modelStoragePrefix(pointer.version)),
    );
  } catch (err) {
    return {
      reason: `active model unreadable: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
  if (data.manifest.backbone.id !== backboneId || !data.manifest.features)
    return { reason: `active model made with ${data.manifest.backbone.id}` };
  // Models recorded before domains existed say nothing: their bases are reused as before.
  const seen = data.manifest.training.imagesByDomain as Record<string, number> | undefined;
  if (!seen) return { bases: data.bases, reason: `active model ${pointer.version}` };
  const total = Object.values(trainingDomains).reduce((a, b) => a + b, 0);
  const unseen = Object.entries(trainingDomains).filter(([d]) => !(seen[d] ?? 0));
  const unseenShare = total ? unseen.reduce((a, [, n]) => a + n, 0) / total : 0;
  if (unseenShare >= NEW_DOMAIN_REFIT_SHARE)
    return {
      reason: `${Math.round(unseenShare * 100)} % of the photos from domains the active model never saw (${unseen.map(([d]) => d).join(', ')})`,
    };
  return { bases: data.bases, reason: `active model ${pointer.version}` };
}

interface DatasetImage {
  id: string;
  speciesId: string;
  storagePath: string;
  group: string;
  /** 'crop', 'field', a dataset's name; 'unspecified' for images recorded before domains. */
  domain: string;
  /** 'upload', 'import' or 'observation' (uploads before sources existed). */
  source: TrainingSource;
  /** SHA-256 of the stored JPEG (recorded at ingestion since 2026-11; absent on older images). */
  storedSha256?: string;
}

/**
 * The run's dataset snapshot: training images recorded before the run was created, in id
 * order, so every shard task of the same run sees the same list even while uploads continue.
 * Images being erased (`erasing`) are left out.
 * Group (for the frozen benchmark split): the `group` recorded at upload (e.g. the dataset
 * manifest's source photo) when known, else the image itself.
 */
export async function loadDatasetSnapshot(db: Firestore, before: Date): Promise<DatasetImage[]> {
  const snap = await db
    .collection(COLLECTIONS.trainingImages)
    .where('createdAt', '<=', before)
    .get();
  return snap.docs
    .filter((d) => d.get('erasing') !== true)
    .map((d) => ({
      id: d.id,
      speciesId: d.get('speciesId') as string,
      storagePath: d.get('storagePath') as string,
      group: (d.get('group') as string | undefined) || d.id,
      domain: parseDomain(d.get('domain')) ?? UNSPECIFIED_DOMAIN,
      source: imageSource(d),
      storedSha256: (d.get('storedSha256') as string | undefined) || undefined,
    }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function domainCounts(images: { domain: string }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const i of images) counts[i.domain] = (counts[i.domain] ?? 0) + 1;
  return counts;
}

export function countBySpecies(images: { speciesId: string }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const i of images) counts[i.speciesId] = (counts[i.speciesId] ?? 0) + 1;
  return counts;
}

/** Images of one task: every taskCount-th image starting at taskIndex (balanced shards). */
export function shardOf<T>(items: T[], taskIndex: number, taskCount: number): T[] {
  return items.filter((_, i) => i % taskCount === taskIndex);
}

export async function runTrainer(deps: TrainerDeps): Promise<TrainerOutcome> {
  const { db, bucket, runId, options } = deps;
  const retry = deps.retry ?? trainerRetry(deps.log);
  const runRef = db.collection(COLLECTIONS.trainingRuns).doc(runId) as DocumentReference;
  const started = Date.now();

  // queued → running (any task may be first); a finished run is left alone (job retries).
  const state = await retry('firestore.start_run', () =>
    db.runTransaction(async (tx) => {
      const snap = await tx.get(runRef);
      if (!snap.exists) return { kind: 'missing' as const };
      const status = snap.get('status') as string;
      if (status !== 'queued' && status !== 'running') return { kind: 'finished' as const, status };
      if (status === 'queued')
        tx.update(runRef, {
          status: 'running',
          startedAt: deps.now(),
          heartbeatAt: deps.now(),
          phase: 'loading',
          phaseLabel: PHASE_LABELS_FR.loading,
        });
      return { kind: 'active' as const, createdAt: toDate(snap.get('createdAt')) ?? deps.now() };
    }),
  );
  if (state.kind === 'missing') throw new TrainerError(`Entraînement « ${runId} » introuvable.`);
  if (state.kind === 'finished') return { kind: 'skipped', reason: `run already ${state.status}` };

  const reporter = new RunReporter(runRef, {
    retry,
    now: deps.now,
    taskIndex: deps.taskIndex,
    onWriteError: (err) =>
      deps.log('trainer.progress_write_failed', {
        runId,
        error: err instanceof Error ? err.message : String(err),
      }),
  });
  reporter.startHeartbeat();
  const enter = (phase: RunPhase, extra: Record<string, unknown> = {}): void => {
    deps.log('trainer.phase', { runId, phase, taskIndex: deps.taskIndex });
    if (deps.crashAt === phase) throw new Error(`arrêt simulé à la phase ${phase} (test)`);
    reporter.update({ phase, phaseLabel: PHASE_LABELS_FR[phase], ...extra });
  };

  try {
    enter('loading');
    const dataset = await retry('firestore.dataset_snapshot', () =>
      loadDatasetSnapshot(db, state.createdAt),
    );
    const counts = countBySpecies(dataset);
    // Every model is trained without the frozen benchmark, and judged on it.
    const split = splitBenchmark(dataset);
    const requireTwoSpecies = (images: DatasetImage[]): string[] => {
      const labels = Object.keys(countBySpecies(images)).sort();
      if (labels.length < 2)
        throw new TrainerError(
          'Il faut des images d’au moins 2 espèces hors du banc d’essai pour entraîner un modèle.',
        );
      return labels;
    };
    requireTwoSpecies(split.training);
    const sharded = deps.taskCount > 1;

    // Photos a hiker erased (consent withdrawn, account deleted) since the snapshot: skipped
    // wherever the run meets them, their cached embeddings deleted, counted on the run.
    const erased = new Set<string>();
    const live = <T extends { id: string }>(images: T[]): T[] =>
      images.filter((image) => !erased.has(image.id));
    const training = (): DatasetImage[] => live(split.training);
    const mine = (): DatasetImage[] =>
      live(sharded ? shardOf(split.training, deps.taskIndex, deps.taskCount) : split.training);
    const benchmark = split.benchmark;
    const noteErased = (imageId: string): void => {
      if (erased.has(imageId)) return;
      erased.add(imageId);
      deps.log('trainer.image_erased', { runId, imageId });
      reporter.update({ skippedErased: erased.size });
    };
    reporter.update({
      datasetCounts: counts,
      datasetSize: dataset.length,
      trainingSize: split.training.length,
      benchmarkSize: benchmark.length,
      ...(sharded ? { 'shards.count': deps.taskCount } : {}),
      // Photos embedded for training, then photos of the benchmark scored.
      'progress.total': split.training.length + benchmark.length,
    });

    // Photos are fetched only when needed: to hash an image recorded without its stored hash,
    // or to embed a view missing from the cache. A cached retrain reads no photo at all.
    const bytesById = new Map<string, Promise<Buffer>>();
    let photoDownloads = 0;
    /**
     * The photo's bytes. No object: the record says where it is now (a relabel moved it), or
     * that it is erased (ErasedImageError: the step that read it goes on without it).
     */
    const download = async (image: DatasetImage): Promise<Buffer> => {
      await deps.hooks?.beforePhotoDownload?.(image.id);
      try {
        return (await bucket.file(image.storagePath).download())[0];
      } catch (err) {
        if (!isNotFound(err)) throw err;
        const { storagePaths } = await checkRecords(db, retry, [image.id]);
        const now = storagePaths.get(image.id);
        if (now === undefined) throw new ErasedImageError(image.id);
        if (now === image.storagePath) throw err;
        return (await bucket.file(now).download())[0];
      }
    };
    const bytesOf = (image: DatasetImage): Promise<Buffer> => {
      if (erased.has(image.id)) return Promise.reject(new ErasedImageError(image.id));
      let bytes = bytesById.get(image.id);
      if (!bytes) {
        photoDownloads++;
        bytes = download(image);
        bytesById.set(image.id, bytes);
        bytes.catch(() => bytesById.delete(image.id));
      }
      return bytes;
    };
    const hashById = new Map<string, string>();
    /** The training images behind each embedding object (by stored hash). */
    const idsByHash = new Map<string, string[]>();
    const hashAll = async (images: DatasetImage[]): Promise<void> => {
      await mapLimit(images, 8, async (image) => {
        if (hashById.has(image.id)) return;
        try {
          const sha = image.storedSha256 ?? sha256Hex(await bytesOf(image));
          hashById.set(image.id, sha);
          idsByHash.set(sha, [...(idsByHash.get(sha) ?? []), image.id]);
        } catch (err) {
          if (!(err instanceof ErasedImageError)) throw err;
          noteErased(image.id);
        }
      });
    };
    const hashesOf = (images: DatasetImage[]): string[] =>
      images.map((image) => hashById.get(image.id) as string);
    /** Leaves out every training image erased since the snapshot; deletes what it cached. */
    const dropErasedImages = async (cache: StorageEmbeddingCache): Promise<void> => {
      const { erased: gone } = await checkRecords(
        db,
        retry,
        training().map((image) => image.id),
      );
      for (const id of gone) noteErased(id);
      for (const [sha, ids] of idsByHash)
        if (ids.every((id) => erased.has(id))) await cache.discard(sha);
    };
    const asTrainingImages = (images: DatasetImage[]): TrainingImage[] =>
      images.map((image) => ({
        id: image.id,
        label: image.speciesId,
        group: image.group,
        domain: image.domain,
        sha256: hashById.get(image.id),
        read: () => bytesOf(image),
      }));

    enter('embedding');
    // 'auto': the preferred ensemble when its weights can be had (local dir or official URL), else
    // the npm-shipped default; the choice is logged and kept in the manifest.
    const backboneChoice = await resolveBackboneId(options.backboneId);
    const backboneId = backboneChoice.id;
    deps.log('trainer.backbone', { runId, backboneId, reason: backboneChoice.reason });
    await hashAll(training());
    const backbone = await loadBackbone(backboneId);
    let embedded: EmbeddedImage[];
    let featurizer: Awaited<ReturnType<typeof prepareFeaturizer>>;
    let cache: StorageEmbeddingCache;
    let fitExchange: StorageFitExchange | undefined;
    let reusedBases = false;
    let cleaningUp: Promise<void> = Promise.resolve();
    try {
      // The bilinear pooling's bases: the active model's when they fit (cached rows stay
      // valid), else fitted on a deterministic sample of the training photos (every shard
      // fits the same ones).
      const reused = await activeModelBases(
        db,
        bucket,
        retry,
        backboneId,
        domainCounts(training()),
      );
      reusedBases = reused.bases !== undefined;
      // Written for a photo erased meanwhile: deleted again at once (the erasure has started
      // when the record is marked or gone; it deletes the embeddings only after marking).
      const stillWanted = async (sha: string): Promise<boolean> => {
        const ids = idsByHash.get(sha);
        if (!ids) return true; // not a photo of the training set (the synthetic negatives)
        const { erased: gone } = await checkRecords(db, retry, ids);
        for (const id of gone) noteErased(id);
        return ids.some((id) => !erased.has(id));
      };
      const own = new Set(hashesOf(mine()));
      // Sharded: the tasks share the fit (each sample photo through one task's backbone, each
      // basis fitted by one task) instead of each doing all of it; the same bases, bit for bit.
      fitExchange = sharded
        ? new StorageFitExchange(bucket, deps.taskIndex, deps.taskCount, (sha) => own.has(sha), {
            stillWanted,
          })
        : undefined;
      const exchange = fitExchange;
      featurizer = await skippingErased(
        () =>
          prepareFeaturizer(asTrainingImages(training()), backbone, {
            bases: reused.bases,
            // Fitted bases are kept: a run started again after a failure fits nothing and
            // finds its cached embeddings under the same featurizer key.
            basesCache: new StorageBasesCache(bucket),
            // A fit keeps the maps of the sample photos this task embeds (its shard's), which
            // then give their photo rows without a second pass through the backbone.
            keepSampleMaps: own,
            fitExchange: exchange && ((fitKey, tag) => exchange.forFit(fitKey, tag)),
            onProgress: (p) => {
              if (p.phase === 'fitting-features')
                reporter.update({ fitting: { done: p.done, total: p.total } });
            },
          }),
        noteErased,
      );
      deps.log('trainer.features', {
        runId,
        featurizer: featurizer.key,
        bases: reused.bases ? 'reused' : 'fitted or cached',
        why: reused.reason,
        // Sample photos whose maps the fit kept for their photo rows (0 when nothing was fitted).
        keptMaps: featurizer.keptMapsStats(),
        // Maps and bases found shared by another task, or shared with them (0 when not sharded).
        ...(exchange ? { shared: exchange.stats } : {}),
      });
      cache = new StorageEmbeddingCache(bucket, TRAINING_VIEWS.length, featurizer.key, {
        stillWanted,
        beforeWrite: deps.hooks?.beforeEmbeddingWrite,
      });
      await cache.prefetch(backboneId, hashesOf(mine()));
      const crashAfter = /^embedding:(\d+)$/.exec(deps.crashAt ?? '')?.[1];
      // Progress counts each photo once, even when a step starts again without an erased one.
      let reported = 0;
      const embedding = cache;
      const embedLive = (images: () => DatasetImage[], onDone?: (done: number) => void) =>
        skippingErased(
          () =>
            embedImages(asTrainingImages(images()), featurizer, {
              cache: embedding,
              views: TRAINING_VIEWS,
              onProgress: ({ done }) => onDone?.(done ?? 0),
            }),
          noteErased,
        );
      embedded = await embedLive(mine, (done) => {
        if (done > reported) reporter.addDone(done - reported);
        reported = Math.max(reported, done);
        if (crashAfter !== undefined && done === Number(crashAfter))
          throw new Error(`arrêt simulé après ${done} photos (test)`);
      });
      // Kept maps not used above (a photo erased meanwhile, or whose row was cached) go.
      featurizer.forgetKeptMaps();
      if (sharded)
        // The synthetic negatives the coordinator's training embeds (photo row only): each task
        // a share, into the cache, so that it finds them instead of computing them all alone.
        await embedImages(
          shardOf(
            await syntheticNegativeImages(undefined, options.seed),
            deps.taskIndex,
            deps.taskCount,
          ),
          featurizer,
          { cache, views: [PHOTO_VIEW] },
        );
      await cache.flush();
      if (sharded) {
        // Hand over: the task completing the last shard trains the head for everyone.
        const coordinator = await retry('firestore.shard_done', () =>
          db.runTransaction(async (tx) => {
            const snap = await tx.get(runRef);
            if (snap.get('status') !== 'running') return false;
            const done = new Set<number>((snap.get('shards.done') as number[] | undefined) ?? []);
            done.add(deps.taskIndex);
            const already = snap.get('shards.coordinator') as number | undefined;
            // A retry after a commit whose answer was lost finds itself already coordinator.
            const last =
              done.size >= deps.taskCount && (already === undefined || already === deps.taskIndex);
            tx.update(runRef, {
              'shards.done': [...done].sort((a, b) => a - b),
              ...(last ? { 'shards.coordinator': deps.taskIndex } : {}),
            });
            return last;
          }),
        );
        deps.log('trainer.shard_done', {
          runId,
          taskIndex: deps.taskIndex,
          coordinator,
          ...cache.stats,
        });
        if (!coordinator) {
          featurizer.dispose();
          backbone.dispose();
          await reporter.close();
          return { kind: 'shard-done' };
        }
        // Every task is done with the fit: what they shared for it goes, while this task trains
        // (awaited before the model is registered).
        if (!reusedBases && fitExchange) {
          const sample = basisSampleOf(hashesOf(training()).filter((sha) => sha !== undefined));
          cleaningUp = fitExchange.cleanUp(sample).then(
            (objects) => deps.log('trainer.fit_shared_cleaned', { runId, objects }),
            // Left for the next run's coordinator (the same sample) or an erasure: not worth a run.
            (err: unknown) =>
              deps.log('trainer.fit_shared_cleanup_failed', {
                runId,
                error: err instanceof Error ? err.message : String(err),
              }),
          );
        }
        // Other shards' embeddings come from Storage; only images added by no shard are embedded.
        await hashAll(training());
        await cache.prefetch(backboneId, hashesOf(training()));
        embedded = await embedLive(training);
        await cache.flush();
      }
    } catch (err) {
      backbone.dispose();
      throw err;
    }
    // Photos erased while they were embedded, or whose cached rows were used: not trained on.
    await dropErasedImages(cache);
    embedded = live(embedded);
    const labels = requireTwoSpecies(training());
    const provenance = provenanceCounts(training());
    deps.log('trainer.embedded', {
      runId,
      images: embedded.length,
      photoDownloads,
      ...cache.stats,
    });
    // Shown on the training page, and how tests see that a retrain reused the cache.
    reporter.update({
      embedding: {
        images: embedded.length,
        photoDownloads,
        cachedViews: cache.stats.hits,
        computedViews: cache.stats.misses,
      },
    });

    const version = modelVersionFor(deps.now(), runId);
    enter('training', { curve: [] });
    // The backbone stays loaded (and shared: models/backbones are reference-counted) through
    // training, which would otherwise load it again for the embeddings of new photos.
    const { model, metrics } = await trainFootprintModel({
      images: asTrainingImages(training()),
      labels,
      backboneChoice,
      featurizer,
      calibrationFolds: options.calibrationFolds,
      seed: options.seed,
      version,
      embeddingCache: cache,
      trainingInfo: { runId, benchmark: BENCHMARK.id, provenance },
      onProgress: (p) => {
        if (p.phase === 'training' && p.epoch !== undefined && p.loss !== undefined)
          reporter.appendCurve({ epoch: p.epoch, loss: p.loss, accuracy: p.accuracy ?? null });
      },
    }).finally(() => {
      featurizer.dispose();
      backbone.dispose();
    });
    const prefix = modelStoragePrefix(version);
    let judged: BenchmarkJudgement;
    try {
      // Keeps the embeddings of the synthetic negatives (the not_a_footprint check) for next time.
      await cache.flush();
      // The cache's counts so far: misses after `trainer.embedded`'s are the synthetic negatives
      // nobody embedded ahead (a sharded run's tasks embed them before the hand-over).
      deps.log('trainer.trained', { runId, timingsMs: metrics.timingsMs, cache: cache.stats });

      enter('evaluating');
      judged = await judgeOnBenchmark(
        { db, bucket, retry },
        benchmark,
        model,
        () => reporter.addDone(1),
        async (photo) => {
          try {
            return await bytesOf(photo);
          } catch (err) {
            if (!(err instanceof ErasedImageError)) throw err;
            noteErased(photo.id);
            return undefined;
          }
        },
      );
      deps.log('trainer.benchmarked', {
        runId,
        photos: benchmark.length,
        candidateTop1: judged.candidate.figures.top1,
        active: judged.decision.comparedWith,
        rule: judged.decision.rule,
      });

      enter('exporting');
      await exportModel(bucket, model, prefix);
    } finally {
      model.dispose();
    }
    const { candidate, active, decision } = judged;

    const durationMs = Date.now() - started;
    const modelDoc = {
      version,
      createdAt: deps.now(),
      runId,
      backbone: { id: backboneId },
      // Figures on the frozen benchmark (the same photos for every model), per domain.
      metrics: {
        ...candidate.figures,
        perSpeciesRecall: candidate.report.perSpeciesRecall,
        confusion: confusionForFirestore(candidate.report),
        trainCount: training().length,
        split: `banc d’essai figé : ${Math.round(BENCHMARK.fraction * 100)} % des groupes de photos, choisis par hachage`,
        crossValidationTop1: metrics.crossValidation?.top1 ?? null,
      },
      // Trained without these benchmark photos: later candidates are compared fairly with it.
      benchmark: { id: BENCHMARK.id, fraction: BENCHMARK.fraction },
      thresholds: {
        identified: model.manifest.thresholds.identified,
        notFootprint: model.manifest.thresholds.notFootprint,
        temperature: model.manifest.temperature,
      },
      datasetCounts: counts,
      provenance,
      durationMs,
      storagePrefix: prefix,
      status: 'candidate',
    };
    await cleaningUp;
    await retry('firestore.register_model', () =>
      db.collection(COLLECTIONS.models).doc(version).set(modelDoc),
    );
    // Progress is flushed first; the final state is then written by the completing transaction.
    await reporter.close();
    const completion = await retry('firestore.complete_run', () =>
      completeRunAndMaybePromote(db, {
        runId,
        version,
        decision,
        now: deps.now(),
        runFields: {
          phase: 'done',
          phaseLabel: PHASE_LABELS_FR.done,
          durationMs,
          metrics: {
            top1: candidate.figures.top1,
            top3: candidate.figures.top3,
            macroF1: candidate.figures.macroF1,
          },
          benchmark: {
            id: BENCHMARK.id,
            fraction: BENCHMARK.fraction,
            candidate: candidate.figures,
            active,
          },
          skippedErased: erased.size,
        },
      }),
    );
    if (!completion.completed) {
      // Reaped (or cancelled) while we trained: its verdict stands; the export stays a candidate.
      return { kind: 'skipped', reason: `run became ${completion.runStatus} during training` };
    }
    return {
      kind: 'trained',
      modelVersion: version,
      promoted: completion.promoted,
      benchmarkTop1: candidate.figures.top1,
    };
  } catch (err) {
    await reporter.close().catch(() => undefined);
    throw err;
  }
}

/** Writes the model directory to `prefix` in Storage (through a temporary directory). */
async function exportModel(
  bucket: TrainerBucket,
  model: FootprintModel,
  prefix: string,
): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wildlens-model-'));
  try {
    await saveModel(model, dir);
    for (const name of await readdir(dir)) {
      await bucket.file(`${prefix}${name}`).save(await readFile(path.join(dir, name)), {
        contentType: name.endsWith('.json') ? 'application/json' : 'application/octet-stream',
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Marks the run failed (only if still active) with a French message. */
export async function markRunFailed(
  db: Firestore,
  runId: string,
  err: unknown,
  now: Date,
  retry: Retry,
): Promise<void> {
  const runRef = db.collection(COLLECTIONS.trainingRuns).doc(runId);
  const message =
    err instanceof TrainerError
      ? err.messageFr
      : `Échec de l’entraînement : ${err instanceof Error ? err.message : String(err)}`;
  await retry('firestore.fail_run', () =>
    db.runTransaction(async (tx) => {
      const snap = await tx.get(runRef);
      if (!snap.exists) return;
      const status = snap.get('status') as string;
      if (status !== 'queued' && status !== 'running') return;
      tx.update(runRef, { status: 'failed', error: message, finishedAt: now, heartbeatAt: now });
    }),
  );
}
