import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * A backbone given by URL: any tfjs graph or layers model (e.g. a TF-Hub feature-vector model
 * converted with tensorflowjs_converter), described by what the weights cannot say themselves.
 * Its id is `url:` + a hash of this description, so a model trained with it records an id that
 * names exactly these weights, read this way; the description itself travels in the model's
 * manifest (backbone.sources), which is how serving learns it.
 */
export const urlBackboneDescriptorSchema = z
  .object({
    /** model.json of a tfjs model (http or https); its shards are fetched next to it, with its query string (TF-Hub). */
    url: z
      .string()
      .url()
      .refine((u) => /^https?:\/\//i.test(u), { message: 'must be an http(s) URL' })
      .transform((u) => {
        const parsed = new URL(u);
        parsed.hash = '';
        return parsed.href;
      }),
    /** Square input side the model expects (TF-Hub: EfficientNetV2-S 384, BiT 224…). */
    inputSize: z.number().int().min(32).max(1024),
    /** unit: x/255; mobilenet: x/127.5−1; imagenet: (x/255 − mean) / std (torchvision-style). */
    normalisation: z.enum(['unit', 'mobilenet', 'imagenet']),
    /** Layer (layers model) or node (graph model) whose output gives the features, average-pooled when 4-D. Default: the model's own output. */
    featureOutput: z.string().min(1).optional(),
    /** Expected feature size, checked at load when given. */
    featureDim: z.number().int().positive().optional(),
    /** Licence of the weights (recorded in every model trained with them). */
    license: z.string().trim().min(1),
    /** Where the weights come from (model page, conversion), free text. */
    origin: z.string().trim().min(1).optional(),
    /** Pins the weights: SHA-256 of model.json followed by its shards in weightsManifest order. */
    weightsSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits')
      .optional(),
  })
  .strict();

export type UrlBackboneDescriptor = z.output<typeof urlBackboneDescriptorSchema>;

export const URL_BACKBONE_PREFIX = 'url:';
const NUMERIC_FIELDS = new Set(['inputSize', 'featureDim']);

/** A backbone param naming a URL backbone: a JSON description, or a URL with the description in its fragment. */
export function isUrlBackboneParam(value: string): boolean {
  return /^\s*\{/.test(value) || /^https?:\/\//i.test(value.trim());
}

/**
 * Parses a backbone param into a description. Two spellings:
 * - JSON: `{"url":"https://…/model.json","inputSize":384,"normalisation":"unit","license":"Apache-2.0"}`
 * - URL with the other fields in its fragment (never sent to the server):
 *   `https://…/model.json#inputSize=384&normalisation=unit&license=Apache-2.0`
 */
export function parseUrlBackboneParam(value: string): UrlBackboneDescriptor {
  let raw: unknown;
  const text = value.trim();
  if (text.startsWith('{')) {
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new Error(`backbone description is not valid JSON: ${(error as Error).message}`);
    }
  } else {
    const hashAt = text.indexOf('#');
    if (hashAt < 0)
      throw new Error(
        `URL backbone ${text} has no description: append #inputSize=…&normalisation=…&license=… ` +
          `(in a .env file, quote the value: an unquoted # starts a comment)`,
      );
    const fields: Record<string, unknown> = { url: text.slice(0, hashAt) };
    for (const [key, field] of new URLSearchParams(text.slice(hashAt + 1)))
      fields[key] = NUMERIC_FIELDS.has(key) && field.trim() !== '' ? Number(field) : field;
    raw = fields;
  }
  const parsed = urlBackboneDescriptorSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) =>
      i.code === 'unrecognized_keys'
        ? `unknown field(s) ${i.keys.join(', ')}`
        : `${i.path.join('.') || 'description'}: ${i.message}`,
    );
    throw new Error(
      `invalid URL backbone (${problems.join('; ')}); expected url, inputSize, normalisation ` +
        `(unit|mobilenet|imagenet), license, and optionally featureOutput, featureDim, origin, weightsSha256`,
    );
  }
  return parsed.data;
}

/** Keys sorted at every level: the same description always hashes the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/** `url:` + the first 16 hex digits of the SHA-256 of the canonical description. */
export function urlBackboneId(descriptor: UrlBackboneDescriptor): string {
  const digest = createHash('sha256').update(canonicalJson(descriptor)).digest('hex');
  return `${URL_BACKBONE_PREFIX}${digest.slice(0, 16)}`;
}

export function isUrlBackboneId(id: string): boolean {
  return id.startsWith(URL_BACKBONE_PREFIX);
}

interface RegistryEntry {
  descriptor: UrlBackboneDescriptor;
  /** The weights' digest these ids must load: pinned, recorded by a manifest, or seen at first load. */
  weightsSha256?: string;
  /** Measured at the first load. */
  featureDim?: number;
}

/**
 * Descriptions known to this process, by id. Filled by resolveBackboneId (a param naming a URL)
 * and by readModelData (a manifest recording one); ids are content hashes, so entries never clash.
 */
const registry = new Map<string, RegistryEntry>();

/**
 * Makes a description loadable by its id. `recordedSha256` is the digest of the weights a model was
 * trained with (from its manifest): loading other weights under this id then fails.
 */
export function registerUrlBackbone(
  descriptor: UrlBackboneDescriptor,
  recordedSha256?: string,
): string {
  const id = urlBackboneId(descriptor);
  const entry = registry.get(id) ?? { descriptor };
  const expected = descriptor.weightsSha256 ?? entry.weightsSha256;
  if (recordedSha256 && expected && recordedSha256 !== expected)
    throw new Error(
      `backbone ${id} (${descriptor.url}): a model was trained on weights ${recordedSha256.slice(0, 12)}…, ` +
        `but this process uses ${expected.slice(0, 12)}… (the weights at that URL changed)`,
    );
  entry.weightsSha256 = expected ?? recordedSha256;
  registry.set(id, entry);
  return id;
}

export function urlBackboneEntry(id: string): RegistryEntry {
  const entry = registry.get(id);
  if (!entry)
    throw new Error(
      `unknown backbone "${id}": a URL backbone is known from the param that named it or from the ` +
        `manifest of a model trained with it (load models with readModelData / loadFootprintModel)`,
    );
  return entry;
}

/** Checks (or, on first sight, records) the digest of the weights loaded for an id from `dir`. */
export function checkUrlBackboneWeights(
  id: string,
  dir: string,
  sha256: string,
  featureDim: number,
): void {
  const entry = urlBackboneEntry(id);
  if (entry.weightsSha256 && entry.weightsSha256 !== sha256)
    throw new Error(
      `the weights at ${entry.descriptor.url} have SHA-256 ${sha256}, expected ` +
        `${entry.weightsSha256} (pinned or recorded by the model): they changed at that URL, or ` +
        `the copy in ${dir} is corrupt (delete it to download again)`,
    );
  if (entry.descriptor.featureDim !== undefined && entry.descriptor.featureDim !== featureDim)
    throw new Error(
      `its feature output gives ${featureDim}-d features, the description says ${entry.descriptor.featureDim}`,
    );
  entry.weightsSha256 = sha256;
  entry.featureDim = featureDim;
}

/** Tests only: forget every description, as a fresh serving instance would. */
export function forgetUrlBackbones(): void {
  registry.clear();
}
