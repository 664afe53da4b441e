import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import type { Backbone } from './backbones.js';
import {
  basisName,
  disposeMaps,
  featureMaps,
  poolFeatures,
  workingShortSide,
  type FeatureRecipe,
  type FeatureView,
  type ProjectionBases,
  type RenderedViews,
  type StageTimer,
} from './feature-maps.js';

export type { StageTimer } from './feature-maps.js';
import {
  cropResize,
  decodeToRgb,
  toInputTensor,
  type PhotoRegion,
  type RgbImage,
} from './image-pipeline.js';
import {
  CellSampler,
  basisTensors,
  fitProjectionBasis,
  type BasisTensors,
  type ProjectionBasis,
} from './projection.js';
import { createRandom } from './random.js';
import { wholeViewSize } from './tensor-input.js';

export {
  DEFAULT_FEATURE_RECIPE,
  basisName,
  disposeMaps,
  featureLength,
  featureMaps,
  poolFeatures,
  workingShortSide,
  type FeatureRecipe,
  type FeatureView,
  type Pooling,
  type ProjectionBases,
  type RenderedViews,
} from './feature-maps.js';

/**
 * A recipe limited to what `backbone` has: a single backbone has one part, and a backbone
 * without spatial feature maps (a URL model whose output is already a vector) only gives the
 * pooled vector of the centred view.
 */
export function recipeFor(backbone: Backbone, recipe: FeatureRecipe): FeatureRecipe {
  const partCount = backbone.spec.id.split('+').length;
  const allParts = Array.from({ length: partCount }, (_, i) => i);
  if (!backbone.spatialParts)
    return { ...recipe, views: [{ name: 'center', parts: allParts }], pooling: ['gap'] };
  return {
    ...recipe,
    // A view asking for parts this backbone lacks (the recipe's MobileNetV1 on the single
    // offline backbone) runs through its last part rather than disappearing.
    views: recipe.views.map((v) => {
      const parts = v.parts.filter((p) => p < partCount);
      return { ...v, parts: parts.length ? parts : [partCount - 1] };
    }),
  };
}

function isVectorOnly(recipe: FeatureRecipe): boolean {
  return (
    recipe.views.length === 1 &&
    recipe.views[0]?.name === 'center' &&
    recipe.pooling.length === 1 &&
    recipe.pooling[0] === 'gap'
  );
}

/** Short id of a recipe, part of embedding cache keys. */
export function recipeKey(recipe: FeatureRecipe): string {
  const views = recipe.views
    .map((v) => `${v.name}${v.name === 'whole' ? recipe.wholeLongSide : ''}[${v.parts.join('')}]`)
    .join('+');
  const pooling = recipe.pooling
    .map((p) => (p === 'bilinear' ? `bil${recipe.bilinearDim}` : p))
    .join('+');
  return `${views}:${pooling}`;
}

/** Renders the recipe's views from a decoded working image. */
export async function renderViews(
  image: RgbImage,
  inputSize: number,
  recipe: FeatureRecipe,
  mirror = false,
): Promise<RenderedViews> {
  const { width, height } = wholeViewSize(image, recipe.wholeLongSide);
  let pipeline = sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: 3 },
  }).resize({ width, height, fit: 'fill', kernel: 'lanczos3' });
  if (mirror) pipeline = pipeline.flop();
  // Both resizes at once: sharp runs them on two threads of its pool.
  const [center, { data, info }] = await Promise.all([
    cropResize(image, inputSize, { flip: mirror }),
    pipeline.raw().toBuffer({ resolveWithObject: true }),
  ]);
  return {
    center,
    whole: {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width,
      height: info.height,
    },
  };
}

/** Each view's feature map for each of its parts, as featureMaps returns them. */
type FeatureMapSet = ReturnType<typeof featureMaps>;

/**
 * A photo's feature maps read back from the backend as they came out of the backbone (exact
 * float32 values), to be pooled later, once the bases exist, exactly as the live tensors would be.
 */
export type KeptMaps = Map<
  FeatureView['name'],
  Map<number, { values: Float32Array; shape: [number, number, number, number] }>
>;

function keepMaps(maps: FeatureMapSet): KeptMaps {
  const kept: KeptMaps = new Map();
  for (const [view, byPart] of maps) {
    const parts = new Map<
      number,
      { values: Float32Array; shape: [number, number, number, number] }
    >();
    // slice(): dataSync may hand out the backend's own buffer (cpu), which dies with the tensor.
    for (const [part, map] of byPart)
      parts.set(part, { values: (map.dataSync() as Float32Array).slice(), shape: [...map.shape] });
    kept.set(view, parts);
  }
  return kept;
}

/** Where a photo's mirror-image maps are kept (fitSharedFeaturizer's work ahead). */
function mirrorKey(sha256: string): string {
  return `${sha256}|mirror`;
}

/** Bytes held by kept maps (their float32 values). */
function keptBytes(kept: KeptMaps): number {
  let bytes = 0;
  for (const byPart of kept.values()) for (const m of byPart.values()) bytes += m.values.byteLength;
  return bytes;
}

/**
 * Fits one PCA basis per view and part on cells of the given photos' feature maps (a sample:
 * `perMap` random cells of each map, at most `maxCells` per basis).
 */
export async function fitBases(
  photos: AsyncIterable<RenderedViews>,
  backbone: Backbone,
  recipe: FeatureRecipe,
  options: {
    perMap?: number;
    maxCells?: number;
    seed?: number;
    /** Sees each photo's maps (photos in iteration order, from 0) before they are freed. */
    onMaps?: (photo: number, maps: FeatureMapSet) => void;
  } = {},
): Promise<ProjectionBases> {
  const cells = new BasisCells(options);
  let photo = 0;
  for await (const views of photos) {
    const maps = featureMaps(backbone, views, recipe);
    try {
      options.onMaps?.(photo++, maps);
      for (const [view, byPart] of maps)
        for (const [part, map] of byPart)
          cells.add(basisName(view, part), map.dataSync() as Float32Array, map.shape);
    } finally {
      disposeMaps(maps);
    }
  }
  const bases: ProjectionBases = {};
  for (const name of cells.names()) bases[name] = cells.fit(name, recipe);
  return bases;
}

/**
 * The cells sampled for each basis, photo after photo: one random stream for every basis, drawn
 * in the order the maps come (photos in sample order, then views and parts in recipe order), so
 * whoever computed the maps, the same maps in the same order give the same cells and bases.
 */
class BasisCells {
  private readonly perMap: number;
  private readonly maxCells: number;
  private readonly random: () => number;
  private readonly samplers = new Map<string, CellSampler>();

  constructor(options: { perMap?: number; maxCells?: number; seed?: number }) {
    this.perMap = options.perMap ?? 48;
    this.maxCells = options.maxCells ?? 10_000;
    this.random = createRandom(options.seed ?? 1);
  }

  add(name: string, values: Float32Array, shape: readonly [number, number, number, number]): void {
    let sampler = this.samplers.get(name);
    if (!sampler) {
      sampler = new CellSampler(this.maxCells, this.perMap, this.random, shape[3]);
      this.samplers.set(name, sampler);
    }
    sampler.addValues(values, shape);
  }

  names(): string[] {
    return [...this.samplers.keys()];
  }

  /** Multiply–adds of the basis' fit (its covariance: cells × channels²), to share fits out. */
  cost(name: string): number {
    const sampler = this.samplers.get(name) as CellSampler;
    const channels = sampler.collected().length / Math.max(1, sampler.count);
    return sampler.count * channels * channels;
  }

  fit(name: string, recipe: FeatureRecipe): ProjectionBasis {
    const sampler = this.samplers.get(name) as CellSampler;
    const channels = sampler.collected().length / Math.max(1, sampler.count);
    return fitProjectionBasis(sampler.collected(), channels, recipe.bilinearDim, 1);
  }
}

/**
 * Which task fits which basis: the costliest first, each to the task with the least work so
 * far (ties: the lowest index). Every task computes the same answer from the same cells.
 */
export function shareBases(
  costs: { name: string; cost: number }[],
  taskCount: number,
): Map<string, number> {
  const load = Array.from({ length: Math.max(1, taskCount) }, () => 0);
  const owner = new Map<string, number>();
  const order = [...costs].sort((a, b) => b.cost - a.cost || (a.name < b.name ? -1 : 1));
  for (const { name, cost } of order) {
    let task = 0;
    for (let t = 1; t < load.length; t++)
      if ((load[t] as number) < (load[task] as number)) task = t;
    owner.set(name, task);
    load[task] = (load[task] as number) + cost;
  }
  return owner;
}

/**
 * What the tasks of a sharded run fitting the same bases share (the trainer: Storage), so that
 * each sample photo passes the backbone in one task and each basis is fitted in one task, instead
 * of every task doing the whole fit. Everything shared is a pure function of the photo (maps) or
 * of the sample (bases): whichever task computed it, the bytes are the same, so a task that does
 * not find a piece computes it itself (a task alone, one that started late, a restart) and the
 * result never depends on who did what.
 */
export interface FitExchange {
  /** This task's index among `taskCount`: the bases it fits first (shareBases). */
  taskIndex: number;
  taskCount: number;
  /** Sample photos this task computes first (its shard's); the others' it looks for first. */
  ownsPhoto(sha256: string): boolean;
  /** The maps of a sample photo, as its row's views give them; undefined when not there (yet). */
  getMaps(sha256: string): Promise<KeptMaps | undefined>;
  putMaps(sha256: string, maps: KeptMaps): Promise<void>;
  getBasis(name: string): Promise<ProjectionBasis | undefined>;
  putBasis(name: string, basis: ProjectionBasis): Promise<void>;
}

/** A photo's maps as bytes: uint32 LE header length, JSON header, float32 LE values. */
export function encodeMaps(maps: KeptMaps, tag: string): Uint8Array {
  const entries: { view: string; part: number; shape: number[] }[] = [];
  const runs: Float32Array[] = [];
  for (const [view, byPart] of maps)
    for (const [part, { values, shape }] of byPart) {
      entries.push({ view, part, shape: [...shape] });
      runs.push(values);
    }
  return frameFloats({ tag, maps: entries }, runs);
}

/**
 * decodeMaps(encodeMaps(maps, tag), tag) gives the maps back; another tag, or bytes that are not
 * such maps, give undefined (the caller computes them).
 */
export function decodeMaps(bytes: Uint8Array, tag: string): KeptMaps | undefined {
  try {
    return decodeTaggedMaps(bytes, tag);
  } catch {
    return undefined;
  }
}

function decodeTaggedMaps(bytes: Uint8Array, tag: string): KeptMaps | undefined {
  const { header, data } = unframeFloats<{
    tag: string;
    maps: { view: FeatureView['name']; part: number; shape: [number, number, number, number] }[];
  }>(bytes);
  if (header.tag !== tag) return undefined;
  const maps: KeptMaps = new Map();
  let offset = 0;
  for (const { view, part, shape } of header.maps) {
    const size = shape.reduce((a, b) => a * b, 1);
    let byPart = maps.get(view);
    if (!byPart) maps.set(view, (byPart = new Map()));
    if (offset + size > data.length) return undefined;
    byPart.set(part, { values: data.slice(offset, offset + size), shape });
    offset += size;
  }
  return offset === data.length ? maps : undefined;
}

/** What a photo's maps are computed with: maps of another backbone or recipe are not used. */
export function mapsTag(backbone: Backbone, recipe: FeatureRecipe): string {
  return `${backbone.spec.id}|${recipeKey(recipe)}|${workingShortSide(recipe)}`;
}

/** Fingerprint of a set of bases (part of embedding cache keys: features depend on them). */
export function basesFingerprint(bases: ProjectionBases): string {
  const hash = createHash('sha256');
  for (const name of Object.keys(bases).sort()) {
    const b = bases[name] as ProjectionBasis;
    hash.update(`${name}:${b.channels}x${b.dim}`);
    hash.update(new Uint8Array(b.mean.buffer, b.mean.byteOffset, b.mean.byteLength));
    hash.update(
      new Uint8Array(b.components.buffer, b.components.byteOffset, b.components.byteLength),
    );
  }
  return hash.digest('hex').slice(0, 12);
}

/**
 * Turns photos into the recipe's feature vectors with a loaded backbone and fitted bases: the
 * one implementation behind training rows, cross-validation and inference.
 */
export class PhotoFeaturizer {
  /** Identifies the features this featurizer computes (recipe + bases), for cache keys. */
  readonly key: string;
  /** Bases as tensors, uploaded on first use instead of once per photo; freed by dispose(). */
  private readonly uploaded = new Map<string, BasisTensors>();
  /**
   * Feature maps of photos (by content hash) that the bases fit ran through the backbone, kept
   * so that their photo row is pooled from them instead of running the backbone again (see
   * fitFeaturizer's `keepMaps`). Each is handed out once (keptFeatures), then forgotten.
   */
  private readonly kept: Map<string, KeptMaps>;

  constructor(
    readonly backbone: Backbone,
    readonly recipe: FeatureRecipe,
    readonly bases: ProjectionBases,
    /** Maps kept by the fit of these bases, by the photo's SHA-256 (fitFeaturizer). */
    keptMaps?: Map<string, KeptMaps>,
  ) {
    this.kept = keptMaps ?? new Map();
    if (recipe.pooling.includes('bilinear'))
      for (const view of recipe.views)
        for (const part of view.parts)
          if (!bases[basisName(view.name, part)])
            throw new Error(`missing projection basis ${basisName(view.name, part)}`);
    this.key = `${recipeKey(recipe)}@${recipe.pooling.includes('bilinear') ? basesFingerprint(bases) : 'none'}`;
  }

  /**
   * Decodes a photo (or the region of it a hiker framed: then that part is the photo) into the
   * working image every view is rendered from.
   */
  decode(bytes: Buffer | Uint8Array, region?: PhotoRegion, maxPixels?: number): Promise<RgbImage> {
    return decodeToRgb(bytes, workingShortSide(this.recipe), region, maxPixels);
  }

  /** The feature vector of a decoded photo (or of its mirror image: training rows). */
  async features(image: RgbImage, mirror = false, onStage?: StageTimer): Promise<Float32Array> {
    const start = performance.now();
    const views = await renderViews(image, this.backbone.spec.inputSize, this.recipe, mirror);
    onStage?.('views', performance.now() - start);
    if (!this.backbone.spatialParts) {
      // The backbone pools itself (GAP of each part, L2-normalised): the same blocks.
      if (!isVectorOnly(this.recipe))
        throw new Error(`backbone ${this.backbone.spec.id} has no spatial feature map`);
      const output = tf.tidy(() =>
        this.backbone.embed(toInputTensor([views.center], this.backbone.spec.preprocessing)),
      );
      const values = Float32Array.from(output.dataSync());
      output.dispose();
      return values;
    }
    const maps = featureMaps(this.backbone, views, this.recipe, onStage);
    try {
      const poolingStart = performance.now();
      const pooled = this.pool(maps);
      onStage?.('pooling', performance.now() - poolingStart);
      return pooled;
    } finally {
      disposeMaps(maps);
    }
  }

  /**
   * The features of the photo (not mirrored) whose SHA-256 is `sha256`, pooled from the maps the
   * bases fit kept of it: the same numbers as features(decode(bytes)), bit for bit (the same
   * float32 maps go through the same pooling), without the backbone. Undefined when no map of
   * it is kept. The maps are forgotten once used.
   */
  keptFeatures(sha256: string, mirror = false): Float32Array | undefined {
    const key = mirror ? mirrorKey(sha256) : sha256;
    const kept = this.kept.get(key);
    if (!kept) return undefined;
    this.kept.delete(key);
    const maps: FeatureMapSet = new Map();
    try {
      for (const [view, byPart] of kept) {
        const tensors = new Map<number, tf.Tensor4D>();
        maps.set(view, tensors);
        for (const [part, { values, shape }] of byPart)
          tensors.set(part, tf.tensor4d(values, shape));
      }
      return this.pool(maps);
    } finally {
      disposeMaps(maps);
    }
  }

  /** Whether maps of that photo are kept. */
  hasKeptMaps(sha256: string): boolean {
    return this.kept.has(sha256);
  }

  /** Photos whose maps are kept, and the bytes their values take. */
  keptMapsStats(): { photos: number; bytes: number } {
    let bytes = 0;
    for (const kept of this.kept.values()) bytes += keptBytes(kept);
    return { photos: this.kept.size, bytes };
  }

  /** Frees the kept maps of that photo, or of every photo (those left once the embedding is done). */
  forgetKeptMaps(sha256?: string): void {
    if (sha256 === undefined) this.kept.clear();
    else {
      this.kept.delete(sha256);
      this.kept.delete(mirrorKey(sha256));
    }
  }

  /** Pools a photo's maps into its feature vector (the one pooling of features and keptFeatures). */
  private pool(maps: FeatureMapSet): Float32Array {
    return poolFeatures(maps, this.recipe, this.bases, (name) => this.basisTensorsOf(name));
  }

  /**
   * Computes the features of a blank photo of the largest size the recipe renders (square: the
   * whole view at its long side on both sides), so that the backend grows its memory and the
   * bases are uploaded at load rather than on the first photo (wasm: ~0.4 s once).
   */
  async warmUp(): Promise<void> {
    const side = workingShortSide(this.recipe);
    await this.features({
      data: new Uint8Array(side * side * 3).fill(128),
      width: side,
      height: side,
    });
  }

  private basisTensorsOf(name: string): BasisTensors {
    let tensors = this.uploaded.get(name);
    if (!tensors) {
      tensors = basisTensors(this.bases[name] as ProjectionBasis);
      this.uploaded.set(name, tensors);
    }
    return tensors;
  }

  /** Frees the uploaded bases and the kept maps (not the backbone, which its owner disposes). */
  dispose(): void {
    for (const { mean, components } of this.uploaded.values()) tf.dispose([mean, components]);
    this.uploaded.clear();
    this.kept.clear();
  }
}

/**
 * Fits the recipe's bases on up to `sampleSize` photos (the first ones in `photos`' order:
 * callers pass a deterministic order, e.g. by content hash, so every shard fits the same bases).
 *
 * `keepMaps`: the featurizer keeps the feature maps of each sample photo that has a `sha256`
 * (those of its photo row: the views features(decode(bytes)) renders), or of those the predicate
 * accepts, so that embedding that photo next pools them instead of running the backbone on it a
 * second time (PhotoFeaturizer.keptFeatures). They take what the maps take: 0.93 MB for a 4:3 photo with the
 * default recipe on the `auto` ensemble (7×7×1792 + 6×6×768 + 14×11×768 float32), at most
 * 1.06 MB (a square photo), so at most 136 MB for a sample of 128; freed one by one as the
 * photos are embedded, and all by forgetKeptMaps() or dispose().
 */
export async function fitFeaturizer(
  photos: { read(): Promise<Buffer>; sha256?: string }[],
  backbone: Backbone,
  recipe: FeatureRecipe,
  options: {
    sampleSize?: number;
    keepMaps?: boolean | ((sha256: string) => boolean);
    onProgress?: (done: number, total: number) => void;
    /** Shares the fit with the other tasks of a sharded run (see FitExchange). */
    exchange?: FitExchange;
  } = {},
): Promise<PhotoFeaturizer> {
  if (!recipe.pooling.includes('bilinear')) return new PhotoFeaturizer(backbone, recipe, {});
  const sample = photos.slice(0, options.sampleSize ?? 128);
  if (options.exchange)
    return fitSharedFeaturizer(photos, sample, backbone, recipe, options.exchange, options);
  let done = 0;
  const rendered = (async function* () {
    for (const photo of sample) {
      // As PhotoFeaturizer.decode and features(image) do: kept maps are the photo row's maps.
      const image = await decodeToRgb(await photo.read(), workingShortSide(recipe));
      yield renderViews(image, backbone.spec.inputSize, recipe);
      options.onProgress?.(++done, sample.length);
    }
  })();
  const kept = new Map<string, KeptMaps>();
  const keep = options.keepMaps;
  const bases = await fitBases(rendered, backbone, recipe, {
    ...(keep
      ? {
          onMaps: (index: number, maps: FeatureMapSet) => {
            const sha256 = sample[index]?.sha256;
            if (sha256 === undefined || kept.has(sha256)) return;
            if (keep === true || keep(sha256)) kept.set(sha256, keepMaps(maps));
          },
        }
      : {}),
  });
  return new PhotoFeaturizer(backbone, recipe, bases, kept);
}

/** Rows' maps computed ahead while waiting for another task's basis, at most (~1 MB each). */
const MAX_AHEAD = 64;

/**
 * fitFeaturizer's fit shared between the tasks of a sharded run: the same bases, bit for bit (the
 * same maps, sampled in the same order with the same random stream, fitted by the same code).
 * Maps: this task's own sample photos first (in sample order), each looked for first (a task
 * that ran ahead, or a predecessor of a restarted run, may have computed it) and published once
 * computed; then the others' in reverse order, computed when not found, so that a task that is
 * done early takes over the other's last photos instead of waiting. Bases: likewise, its own
 * share first, then the others'.
 */
async function fitSharedFeaturizer(
  photos: { read(): Promise<Buffer>; sha256?: string }[],
  sample: { read(): Promise<Buffer>; sha256?: string }[],
  backbone: Backbone,
  recipe: FeatureRecipe,
  exchange: FitExchange,
  options: {
    keepMaps?: boolean | ((sha256: string) => boolean);
    onProgress?: (done: number, total: number) => void;
  },
): Promise<PhotoFeaturizer> {
  const maps = new Map<number, KeptMaps>();
  const publishing: Promise<void>[] = [];
  let done = 0;
  const obtain = async (index: number): Promise<void> => {
    const photo = sample[index] as { read(): Promise<Buffer>; sha256?: string };
    let got = photo.sha256 === undefined ? undefined : await exchange.getMaps(photo.sha256);
    if (!got) {
      // As PhotoFeaturizer.decode and features(image) do: the photo row's maps.
      const image = await decodeToRgb(await photo.read(), workingShortSide(recipe));
      const live = featureMaps(
        backbone,
        await renderViews(image, backbone.spec.inputSize, recipe),
        recipe,
      );
      try {
        got = keepMaps(live);
      } finally {
        disposeMaps(live);
      }
      if (photo.sha256 !== undefined) {
        const put = exchange.putMaps(photo.sha256, got);
        put.catch(() => undefined); // surfaced below, once every photo is done
        publishing.push(put);
      }
    }
    maps.set(index, got);
    options.onProgress?.(++done, sample.length);
  };
  const indices = sample.map((_, i) => i);
  const owns = (i: number): boolean => {
    const sha256 = sample[i]?.sha256;
    return sha256 !== undefined && exchange.ownsPhoto(sha256);
  };
  try {
    for (const i of indices.filter(owns)) await obtain(i);
    for (const i of indices.filter((i) => !owns(i)).reverse()) await obtain(i);
  } finally {
    await Promise.allSettled(publishing);
  }
  await Promise.all(publishing);
  const cells = new BasisCells({});
  for (const i of indices)
    for (const [view, byPart] of maps.get(i) as KeptMaps)
      for (const [part, { values, shape }] of byPart)
        cells.add(basisName(view, part), values, shape);
  const names = cells.names();
  const owner = shareBases(
    names.map((name) => ({ name, cost: cells.cost(name) })),
    exchange.taskCount,
  );
  // While another task's basis is not there yet: work ahead that needs no bases, the maps of
  // rows this task embeds next (its sample photos' mirror images, then its other photos), kept
  // for embedImages like the sample's; the basis is fitted here only when there is none left.
  const keep = options.keepMaps;
  const keeps = (sha256: string | undefined): sha256 is string =>
    sha256 !== undefined && !!keep && (keep === true || keep(sha256));
  const queue: { photo: { read(): Promise<Buffer> }; key: string; mirror: boolean }[] = [];
  for (const photo of sample)
    if (keeps(photo.sha256) && exchange.ownsPhoto(photo.sha256))
      queue.push({ photo, key: mirrorKey(photo.sha256), mirror: true });
  for (const photo of photos.slice(sample.length))
    if (keeps(photo.sha256) && exchange.ownsPhoto(photo.sha256))
      queue.push(
        { photo, key: photo.sha256, mirror: false },
        { photo, key: mirrorKey(photo.sha256), mirror: true },
      );
  const ahead = new Map<string, KeptMaps>();
  const workAhead = async (): Promise<boolean> => {
    const unit = ahead.size < MAX_AHEAD ? queue.shift() : undefined;
    if (!unit) return false;
    try {
      const image = await decodeToRgb(await unit.photo.read(), workingShortSide(recipe));
      const views = await renderViews(image, backbone.spec.inputSize, recipe, unit.mirror);
      const live = featureMaps(backbone, views, recipe);
      try {
        ahead.set(unit.key, keepMaps(live));
      } finally {
        disposeMaps(live);
      }
      return true;
    } catch {
      // Optional work (a photo erased meanwhile): embedImages meets it and decides.
      queue.length = 0;
      return false;
    }
  };
  const fitted = new Map<string, ProjectionBasis>();
  const mine = names.filter((n) => owner.get(n) === exchange.taskIndex);
  const others = names.filter((n) => owner.get(n) !== exchange.taskIndex).reverse();
  for (const name of [...mine, ...others]) {
    let basis = await exchange.getBasis(name);
    while (!basis && owner.get(name) !== exchange.taskIndex && (await workAhead()))
      basis = await exchange.getBasis(name);
    if (!basis) {
      basis = cells.fit(name, recipe);
      await exchange.putBasis(name, basis);
    }
    fitted.set(name, basis);
  }
  // In the order fitBases gives them.
  const bases: ProjectionBases = {};
  for (const name of names) bases[name] = fitted.get(name) as ProjectionBasis;
  const kept = new Map<string, KeptMaps>(ahead);
  for (const [i, m] of maps) {
    const sha256 = sample[i]?.sha256;
    if (keeps(sha256) && !kept.has(sha256)) kept.set(sha256, m);
  }
  return new PhotoFeaturizer(backbone, recipe, bases, kept);
}

/**
 * The byte layout of encodeBases and encodeMaps: uint32 LE length of the header (padded with
 * spaces to a multiple of 4, so the floats are aligned), the JSON header, then `runs`' float32
 * LE values one after the other.
 */
function frameFloats(header: unknown, runs: Float32Array[]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (4 - ((4 + json.length) % 4)) % 4;
  const floats = runs.reduce((sum, run) => sum + run.length, 0);
  const out = new Uint8Array(4 + json.length + pad + floats * 4);
  new DataView(out.buffer).setUint32(0, json.length + pad, true);
  out.set(json, 4);
  out.fill(0x20, 4 + json.length, 4 + json.length + pad);
  const data = new Float32Array(out.buffer, 4 + json.length + pad, floats);
  let offset = 0;
  for (const run of runs) {
    data.set(run, offset);
    offset += run.length;
  }
  return out;
}

/**
 * frameFloats' header and floats. Copied first into a buffer of their own: a view's floats may be
 * unaligned, and a Node Buffer's slice() shares the pool's memory instead of copying.
 */
function unframeFloats<H>(bytes: Uint8Array): { header: H; data: Float32Array } {
  const aligned = new Uint8Array(bytes);
  const headerLength = new DataView(aligned.buffer).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(aligned.subarray(4, 4 + headerLength))) as H;
  return { header, data: new Float32Array(aligned.buffer, 4 + headerLength) };
}

/** Bases as bytes: uint32 LE header length, JSON header [{ name, channels, dim }], float32 LE data. */
export function encodeBases(bases: ProjectionBases): Uint8Array {
  const names = Object.keys(bases).sort();
  const entries = names.map((name) => ({
    name,
    channels: bases[name]!.channels,
    dim: bases[name]!.dim,
  }));
  return frameFloats(
    entries,
    names.flatMap((n) => [bases[n]!.mean, bases[n]!.components]),
  );
}

export function decodeBases(bytes: Uint8Array): ProjectionBases {
  const { header: entries, data } =
    unframeFloats<{ name: string; channels: number; dim: number }[]>(bytes);
  const bases: ProjectionBases = {};
  let offset = 0;
  for (const { name, channels, dim } of entries) {
    const mean = data.slice(offset, offset + channels);
    offset += channels;
    const components = data.slice(offset, offset + channels * dim);
    offset += channels * dim;
    bases[name] = { channels, dim, mean, components };
  }
  return bases;
}

/** Where fitted bases are kept between runs (the CLIs: a file per sample; tests: memory). */
export interface BasesCache {
  get(key: string): Promise<ProjectionBases | undefined>;
  set(key: string, bases: ProjectionBases): Promise<void>;
}
