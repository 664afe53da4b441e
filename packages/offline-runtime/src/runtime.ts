/**
 * Runs an offline bundle with tfjs, wherever tfjs runs (a browser on webgl or wasm, React
 * Native's tfjs, Node for tests): no sharp, no fs. The host registers a tfjs backend and hands
 * over the bundle's manifest, a way to read its files, and decoded photos.
 *
 * Every file is checked against the manifest's SHA-256 and size before anything is used; a
 * bundle of an unknown format version is refused. The tensor math after the backbone (pooling,
 * bilinear projection, heads, calibration, verdict) is the server's own code
 * (`@wildlens/model/inference`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import {
  OfflineBundleError,
  adaptInput,
  basisTensors,
  classifyEmbedding,
  decodeHead,
  disposeMaps,
  featureMaps,
  parseOfflineBundleManifest,
  poolFeatures,
  validateManifest,
  verifyBundleFile,
  workingShortSide,
  type BasisTensors,
  type ClassifierData,
  type FeatureRecipe,
  type FootprintModelManifest,
  type OfflineBundleManifest,
  type OfflineBundlePart,
  type Prediction,
  type ProjectionBases,
  type SpatialBackbone,
} from '@wildlens/model/inference';
import {
  assessObservation,
  type Answers,
  type GeoPoint,
  type Question,
  type RegionId,
  type Species,
} from '@wildlens/shared';
import { decodeToWorking, renderViews, type DecodedPhoto } from './pipeline.js';

/** Reads a bundle file by its path in the manifest (Cache Storage, IndexedDB, the filesystem…). */
export interface BundleReader {
  readFile(path: string): Promise<Uint8Array>;
}

/** A species' French sheet as the bundle carries it (text fields, track traits, range). */
export interface OfflineSpeciesSheet {
  speciesId: string;
  nameFr?: string;
  track?: Species['track'];
  range?: Species['range'];
  [field: string]: unknown;
}

/** An on-device identification: the server's Prediction, plus which bundle answered. */
export interface OfflineIdentification extends Prediction {
  bundleVersion: string;
}

/**
 * What the app keeps of an on-device answer, to send later with the photo (the
 * `syncOfflineObservations` item's on-device result): the same fields, rounding and top-3 as
 * `identifyFootprint` returns, and the bundle version that gave them. Plain JSON.
 */
export interface OnDeviceResult {
  bundleVersion: string;
  verdict: Prediction['verdict'];
  top: { speciesId: string; probability: number }[];
  domain?: string;
  oodScore: number;
  /** When the device answered, ISO 8601. */
  identifiedAt: string;
}

const round4 = (x: number): number => Math.round(x * 10_000) / 10_000;

export function onDeviceResult(
  identification: OfflineIdentification,
  identifiedAt: Date = new Date(),
): OnDeviceResult {
  return {
    identifiedAt: identifiedAt.toISOString(),
    bundleVersion: identification.bundleVersion,
    verdict: identification.verdict,
    top: identification.top
      .slice(0, 3)
      .map((t) => ({ speciesId: t.speciesId, probability: round4(t.probability) })),
    ...(identification.domain ? { domain: identification.domain } : {}),
    oodScore: round4(identification.oodScore),
  };
}

/**
 * An observation's answer as the server gives it (identifyFootprint's assessObservation): the
 * photo's probabilities under the place's range prior and the hiker's answers, the verdict and
 * candidate set from the model's fitted dialogue parameters, the next question from the
 * species' track traits: all read from the bundle.
 */
export interface OfflineAssessment {
  verdict: Prediction['verdict'];
  /** The 3 most probable species (rounded like the server's). */
  top: { speciesId: string; probability: number }[];
  /** « l'un de ces n, 9 fois sur 10 »: coverage null when the model has no fitted parameters. */
  candidates: { speciesIds: string[]; coverage: number | null };
  nextQuestion: Question | null;
  unexpectedSpeciesIds: string[];
  zone: RegionId | null;
}

export interface LoadOfflineBundleOptions {
  /** Called after each file is read and checked (download-free progress for a UI). */
  onFile?(done: number, total: number): void;
}

async function readAll(
  manifest: OfflineBundleManifest,
  reader: BundleReader,
  options: LoadOfflineBundleOptions,
): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  let done = 0;
  for (const entry of manifest.files) {
    let bytes: Uint8Array;
    try {
      bytes = await reader.readFile(entry.path);
    } catch (error) {
      throw new OfflineBundleError(
        'missing-file',
        `${entry.path}: ${(error as Error).message}`,
        entry.path,
      );
    }
    await verifyBundleFile(entry, bytes);
    files.set(entry.path, bytes);
    options.onFile?.(++done, manifest.files.length);
  }
  return files;
}

const json = (bytes: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(bytes));

interface LoadedPart {
  part: OfflineBundlePart;
  graph: GraphModel;
}

async function loadPart(
  part: OfflineBundlePart,
  files: Map<string, Uint8Array>,
): Promise<LoadedPart> {
  const modelJson = json(files.get(part.model) as Uint8Array) as tf.io.ModelJSON;
  const dir = part.model.slice(0, part.model.lastIndexOf('/') + 1);
  const shards = modelJson.weightsManifest.flatMap((g) => g.paths.map((p) => `${dir}${p}`));
  const chunks = shards.map((p) => {
    const bytes = files.get(p);
    if (!bytes) throw new OfflineBundleError('invalid-manifest', `${p} is not in the bundle`, p);
    return bytes;
  });
  const weightData = new Uint8Array(chunks.reduce((sum, c) => sum + c.byteLength, 0));
  let offset = 0;
  for (const c of chunks) {
    weightData.set(c, offset);
    offset += c.byteLength;
  }
  const graph = await loadGraphModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
      weightData: weightData.buffer,
      format: modelJson.format,
    }),
  );
  return { part, graph };
}

/** A loaded bundle: identifies decoded photos on the device. */
export class OfflineModel {
  private disposed = false;
  private readonly uploaded = new Map<string, BasisTensors>();
  private readonly backbone: SpatialBackbone;

  constructor(
    readonly manifest: OfflineBundleManifest,
    readonly modelManifest: FootprintModelManifest,
    readonly species: OfflineSpeciesSheet[],
    private readonly classifier: ClassifierData,
    private readonly bases: ProjectionBases,
    private readonly parts: LoadedPart[],
  ) {
    const { id, preprocessing } = manifest.backbone;
    this.backbone = {
      spec: { id, preprocessing },
      // The server's ensemble (backbones.ts loadBackbone): the view, normalised for the
      // ensemble, adapted to each part (its normalisation; its input size unless whole-photo).
      spatialParts: (input, keepSize = false, only) => {
        const maps = new Map<number, tf.Tensor4D>();
        this.parts.forEach(({ part, graph }, i) => {
          if (only && !only.includes(i)) return;
          maps.set(
            i,
            tf.tidy(
              () =>
                graph.execute(
                  adaptInput(input, preprocessing, part, keepSize),
                  part.output,
                ) as tf.Tensor4D,
            ),
          );
        });
        return maps;
      },
    };
  }

  get version(): string {
    return this.manifest.version;
  }

  /** Short side photos are brought to first (decodePhoto's `shortSide`). */
  get workingShortSide(): number {
    return workingShortSide(this.recipe);
  }

  private get recipe(): FeatureRecipe {
    return this.modelManifest.features as FeatureRecipe;
  }

  /** The feature vector of a photo, exactly as the server's PhotoFeaturizer computes it. */
  features(photo: DecodedPhoto): {
    features: Float32Array;
    preprocessMs: number;
    inferenceMs: number;
  } {
    if (this.disposed) throw new Error('OfflineModel is disposed');
    const t0 = performance.now();
    const working = decodeToWorking(photo, workingShortSide(this.recipe));
    const views = renderViews(working, this.manifest.backbone.inputSize, this.recipe);
    const t1 = performance.now();
    const maps = featureMaps(this.backbone, views, this.recipe);
    try {
      const features = poolFeatures(maps, this.recipe, this.bases, (name) =>
        this.basisTensorsOf(name),
      );
      if (features.length !== this.classifier.head.featureDim)
        throw new Error(
          `features have ${features.length} values, the head expects ${this.classifier.head.featureDim}`,
        );
      return { features, preprocessMs: t1 - t0, inferenceMs: performance.now() - t1 };
    } finally {
      disposeMaps(maps);
    }
  }

  /** Identifies a decoded photo: verdict, calibrated probabilities, domain, as the server would. */
  identify(photo: DecodedPhoto): OfflineIdentification {
    const { features, preprocessMs, inferenceMs } = this.features(photo);
    const t = performance.now();
    const result = classifyEmbedding(this.classifier, features);
    return {
      ...result,
      bundleVersion: this.manifest.version,
      timingsMs: { preprocess: preprocessMs, inference: inferenceMs + performance.now() - t },
    };
  }

  /** The observation's answer from one identified photo (see OfflineAssessment). */
  assess(
    identification: Prediction,
    context: { location?: GeoPoint | null; answers?: Answers } = {},
  ): OfflineAssessment {
    const result = assessObservation({
      photos: [
        {
          probabilities: identification.probabilities,
          ...(identification.domain ? { domain: identification.domain } : {}),
          notFootprint: identification.verdict === 'not_a_footprint',
        },
      ],
      answers: context.answers ?? {},
      location: context.location ?? null,
      parameters: this.modelManifest.dialogue ?? null,
      species: this.catalogue,
    });
    return {
      verdict: result.verdict,
      top: result.top
        .slice(0, 3)
        .map((t) => ({ speciesId: t.speciesId, probability: round4(t.probability) })),
      candidates: result.candidates,
      nextQuestion: result.nextQuestion,
      unexpectedSpeciesIds: result.unexpectedSpecies,
      zone: result.region,
    };
  }

  /** The sheets that carry what the dialogue reads (track traits, range). */
  private get catalogue(): Species[] {
    return this.species
      .filter((s) => s.track !== undefined && s.range !== undefined)
      .map((s) => ({ ...s, id: s.speciesId }) as unknown as Species);
  }

  private basisTensorsOf(name: string): BasisTensors {
    let tensors = this.uploaded.get(name);
    if (!tensors) {
      const basis = this.bases[name];
      if (!basis) throw new Error(`missing projection basis ${name}`);
      tensors = basisTensors(basis);
      this.uploaded.set(name, tensors);
    }
    return tensors;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const { mean, components } of this.uploaded.values()) tf.dispose([mean, components]);
    this.uploaded.clear();
    for (const { graph } of this.parts) graph.dispose();
  }
}

/**
 * Loads a bundle: parses its manifest (refusing unknown formats), reads and checks every file
 * (refusing any whose digest or size differs), builds the backbone parts and warms them up.
 */
export async function loadOfflineBundle(
  manifestValue: unknown,
  reader: BundleReader,
  options: LoadOfflineBundleOptions = {},
): Promise<OfflineModel> {
  const manifest = parseOfflineBundleManifest(manifestValue);
  const files = await readAll(manifest, reader, options);
  let modelManifest: FootprintModelManifest;
  try {
    modelManifest = validateManifest(json(files.get(manifest.model.manifest) as Uint8Array));
  } catch (error) {
    throw new OfflineBundleError('invalid-manifest', `model manifest: ${(error as Error).message}`);
  }
  if (!modelManifest.features)
    throw new OfflineBundleError('invalid-manifest', 'the model has no feature recipe');
  const { head, centroids, bases, domainHead } = decodeHead(
    modelManifest,
    files.get(manifest.model.head) as Uint8Array,
  );
  const species = (
    json(files.get(manifest.species) as Uint8Array) as { species: OfflineSpeciesSheet[] }
  ).species;
  const parts: LoadedPart[] = [];
  try {
    for (const part of manifest.backbone.parts) parts.push(await loadPart(part, files));
    // Warm-up: the first run compiles kernels and allocates; do it at load, not on the first photo.
    for (const { part, graph } of parts)
      tf.tidy(() => graph.execute(tf.zeros([1, part.inputSize, part.inputSize, 3]), part.output));
  } catch (error) {
    for (const { graph } of parts) graph.dispose();
    throw error;
  }
  return new OfflineModel(
    manifest,
    modelManifest,
    species,
    { manifest: modelManifest, head, centroids, ...(domainHead ? { domainHead } : {}) },
    bases,
    parts,
  );
}
