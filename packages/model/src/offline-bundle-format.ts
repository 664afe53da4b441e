/**
 * The offline bundle: what a phone or a browser needs to identify a footprint with no network
 * (browser-safe: written by offline-bundle.ts on the server, read by packages/offline-runtime).
 *
 * `models/{version}/bundle/` holds `bundle.json` (this manifest, written last) and the files it
 * lists, each with its SHA-256 and size:
 * - `model/manifest.json`, `model/head.bin`: the model's own manifest (minus its training
 *   records: metrics, training, holdout) and head.bin, byte for byte: feature recipe,
 *   projection bases, species and domain heads, centroids, calibration per domain, and whatever
 *   later parameters the model manifest carries (e.g. the identification dialogue's);
 * - `backbone/<part>/model.json` + `weights.bin`: each backbone part as a tfjs graph model
 *   cut at the feature map the recipe pools, weights quantised as `parts[].weights` says;
 * - `species.json`: the species' French sheets, text only (no image), with any extra fields
 *   the catalogue grows (track traits, ranges).
 */
import { z } from 'zod';

export const OFFLINE_BUNDLE_FORMAT = 'wildlens-offline-bundle';
/** Raise when a runtime of the previous version could misread a new bundle. */
export const OFFLINE_BUNDLE_FORMAT_VERSION = 1;
export const OFFLINE_BUNDLE_MANIFEST = 'bundle.json';
export const OFFLINE_BUNDLE_MODEL_MANIFEST = 'model/manifest.json';
export const OFFLINE_BUNDLE_SPECIES = 'species.json';

/** How a part's float weights are stored: as shipped, or quantised by the exporter. */
export type WeightQuantization = 'float32' | 'float16' | 'uint8';

const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/);
/** Relative, no `..`, no leading slash: a bundle file never points outside its folder. */
const bundlePathSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9_.@+-]+(\/[A-Za-z0-9_.@+-]+)*$/)
  .refine((p) => !p.split('/').includes('..'), 'path leaves the bundle');

const fileSchema = z.object({
  path: bundlePathSchema,
  sha256: sha256Schema,
  size: z.number().int().nonnegative(),
});

const partSchema = z.object({
  /** Backbone part id, as in the model's backbone id (`mobilenet-v1-0.75@192`). */
  id: z.string().min(1),
  /** The part's graph model (its weights file is listed in `files`). */
  model: bundlePathSchema,
  /** Graph node whose output is the part's feature map. */
  output: z.string().min(1),
  inputSize: z.number().int().positive(),
  preprocessing: z.enum(['unit', 'mobilenet']),
  /**
   * `as-shipped`: the weights are the backbone's own bytes (nsfwjs ships them uint8-quantised);
   * otherwise the exporter stored float32 weights as `quantization`.
   */
  weights: z.object({
    origin: z.enum(['as-shipped', 'exported']),
    quantization: z.enum(['float32', 'float16', 'uint8', 'mixed']),
  }),
  license: z.string(),
  origin: z.string(),
});

export const offlineBundleManifestSchema = z
  .object({
    format: z.literal(OFFLINE_BUNDLE_FORMAT),
    formatVersion: z.number().int(),
    /** The model's version: a new model is a new bundle, a rollback brings the old one back. */
    version: z.string().min(1),
    /** The model manifest's own `createdAt` (the bundle's bytes depend on the model only). */
    modelCreatedAt: z.string(),
    backbone: z.object({
      id: z.string().min(1),
      /** Normalisation of the views fed to the ensemble (each part adapts it, as on the server). */
      preprocessing: z.enum(['unit', 'mobilenet']),
      inputSize: z.number().int().positive(),
      parts: z.array(partSchema).min(1),
    }),
    model: z.object({ manifest: bundlePathSchema, head: bundlePathSchema }),
    species: bundlePathSchema,
    files: z.array(fileSchema).min(1),
    totalSize: z.number().int().nonnegative(),
  })
  .passthrough();

export type OfflineBundleManifest = z.infer<typeof offlineBundleManifestSchema>;
export type OfflineBundleFile = z.infer<typeof fileSchema>;
export type OfflineBundlePart = z.infer<typeof partSchema>;

export type OfflineBundleErrorCode =
  'unsupported-format' | 'invalid-manifest' | 'missing-file' | 'digest-mismatch' | 'size-mismatch';

/** Why a bundle was refused (the runtime never runs a bundle it could not check). */
export class OfflineBundleError extends Error {
  constructor(
    readonly code: OfflineBundleErrorCode,
    message: string,
    readonly file?: string,
  ) {
    super(message);
    this.name = 'OfflineBundleError';
  }
}

/**
 * Reads a bundle manifest, refusing another format, a format version this code does not know
 * (checked before anything else, so a newer bundle is refused as such, not as malformed), and
 * any manifest whose file list does not add up.
 */
export function parseOfflineBundleManifest(value: unknown): OfflineBundleManifest {
  const head = value as { format?: unknown; formatVersion?: unknown } | null;
  if (!head || typeof head !== 'object' || head.format !== OFFLINE_BUNDLE_FORMAT)
    throw new OfflineBundleError('unsupported-format', `not a ${OFFLINE_BUNDLE_FORMAT} manifest`);
  if (head.formatVersion !== OFFLINE_BUNDLE_FORMAT_VERSION)
    throw new OfflineBundleError(
      'unsupported-format',
      `offline bundle format version ${String(head.formatVersion)} is not supported (this runtime reads version ${OFFLINE_BUNDLE_FORMAT_VERSION})`,
    );
  const parsed = offlineBundleManifestSchema.safeParse(value);
  if (!parsed.success)
    throw new OfflineBundleError(
      'invalid-manifest',
      `invalid bundle manifest: ${parsed.error.message}`,
    );
  const manifest = parsed.data;
  const paths = new Set(manifest.files.map((f) => f.path));
  if (paths.size !== manifest.files.length)
    throw new OfflineBundleError('invalid-manifest', 'a file is listed twice');
  for (const needed of [
    manifest.model.manifest,
    manifest.model.head,
    manifest.species,
    ...manifest.backbone.parts.map((p) => p.model),
  ])
    if (!paths.has(needed))
      throw new OfflineBundleError('invalid-manifest', `${needed} is not in the file list`, needed);
  if (manifest.files.reduce((sum, f) => sum + f.size, 0) !== manifest.totalSize)
    throw new OfflineBundleError('invalid-manifest', 'totalSize is not the sum of the file sizes');
  return manifest;
}

/** SHA-256 of `bytes` as lowercase hex, with WebCrypto (browsers, Node ≥ 20, React Native polyfills). */
export async function webSha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error('WebCrypto (crypto.subtle) is not available');
  // WebCrypto reads ArrayBuffer-backed views (never a SharedArrayBuffer's, which these are not).
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}

/** Checks a file's bytes against its manifest entry; throws OfflineBundleError when they differ. */
export async function verifyBundleFile(entry: OfflineBundleFile, bytes: Uint8Array): Promise<void> {
  if (bytes.byteLength !== entry.size)
    throw new OfflineBundleError(
      'size-mismatch',
      `${entry.path}: ${bytes.byteLength} bytes, the manifest says ${entry.size}`,
      entry.path,
    );
  const digest = await webSha256Hex(bytes);
  if (digest !== entry.sha256)
    throw new OfflineBundleError(
      'digest-mismatch',
      `${entry.path}: SHA-256 ${digest} differs from the manifest's ${entry.sha256}`,
      entry.path,
    );
}
