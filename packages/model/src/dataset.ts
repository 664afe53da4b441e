import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export interface DatasetImage {
  /** Path relative to the dataset root (stable across machines). */
  id: string;
  /** Catalogue species id (ascii slug). */
  label: string;
  /** Images sharing a group come from one source photo and must stay on one side of a split. */
  group?: string;
  /** Kind of photo ('crop', 'field', or the dataset's name): metrics are reported per domain. */
  domain: string;
  read(): Promise<Buffer>;
}

export interface Dataset {
  root: string;
  /** Domain of every image of this dataset (see domainOfDataset). */
  domain: string;
  images: DatasetImage[];
  labels: string[];
}

/** The shared development datasets and the kind of photos each holds. */
const KNOWN_DATASET_DOMAINS: Record<string, string> = {
  'footprints-dev': 'crop',
  'footprints-field-dev': 'field',
};

/**
 * A dataset's domain: `domain` declared in its manifest.json, else the known kind of the shared
 * datasets (footprints-dev holds tight crops, footprints-field-dev whole field photos), else the
 * folder's name as a slug.
 */
export function domainOfDataset(root: string, declared?: unknown): string {
  if (typeof declared === 'string' && /^[a-z0-9][a-z0-9-]{0,39}$/.test(declared)) return declared;
  const name = path.basename(path.resolve(root));
  return KNOWN_DATASET_DOMAINS[name] ?? (speciesIdFromFolderName(name).slice(0, 40) || 'dataset');
}

const IMAGE_EXTENSIONS = new Set([
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.gif',
  '.tif',
  '.tiff',
  '.avif',
  '.heic',
]);

/** Folder name → catalogue id: lower-case, accents stripped, `_`/spaces → `-` (Raton_laveur → raton-laveur). */
export function speciesIdFromFolderName(name: string): string {
  return name
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .trim()
    .replace(/[_\s]+/g, '-')
    .replace(/[^a-z0-9-]/g, '')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
}

interface ManifestEntry {
  label: string;
  file: string;
  group?: string;
}

function imageOf(
  root: string,
  file: string,
  label: string,
  domain: string,
  group?: string,
): DatasetImage {
  const absolute = path.join(root, file);
  return {
    id: file.split(path.sep).join('/'),
    label: speciesIdFromFolderName(label),
    group,
    domain,
    read: () => readFile(absolute),
  };
}

/** Reads `manifest.json` ({domain?, images: [{label, file, group}]}) when present, else species-named subfolders. */
export async function readDataset(root: string): Promise<Dataset> {
  const manifestPath = path.join(root, 'manifest.json');
  let images: DatasetImage[];
  let domain: string;
  if (existsSync(manifestPath)) {
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as {
      domain?: unknown;
      images: ManifestEntry[];
    };
    domain = domainOfDataset(root, manifest.domain);
    images = manifest.images.map((e) => imageOf(root, e.file, e.label, domain, e.group));
  } else {
    domain = domainOfDataset(root);
    images = [];
    const entries = await readdir(root, { withFileTypes: true });
    for (const entry of entries
      .filter((e) => e.isDirectory())
      .sort((a, b) => a.name.localeCompare(b.name))) {
      const files = (await readdir(path.join(root, entry.name))).filter((f) =>
        IMAGE_EXTENSIONS.has(path.extname(f).toLowerCase()),
      );
      for (const file of files.sort())
        images.push(imageOf(root, path.join(entry.name, file), entry.name, domain));
    }
  }
  const labels = [...new Set(images.map((i) => i.label))].sort();
  return { root, domain, images, labels };
}

/**
 * Several datasets as one training set. With more than one, ids and groups are prefixed with the
 * dataset's domain so they stay unique; each image keeps its domain.
 */
export async function readDatasets(roots: string[]): Promise<Dataset & { parts: Dataset[] }> {
  if (!roots.length) throw new Error('readDatasets: no dataset');
  const parts = await Promise.all(roots.map((r) => readDataset(r)));
  const domains = parts.map((p) => p.domain);
  const duplicate = domains.find((d, i) => domains.indexOf(d) !== i);
  if (duplicate && parts.length > 1)
    throw new Error(`two datasets have the domain "${duplicate}": give one a manifest "domain"`);
  const images =
    parts.length === 1
      ? (parts[0] as Dataset).images
      : parts.flatMap((p) =>
          p.images.map((i) => ({
            ...i,
            id: `${p.domain}/${i.id}`,
            group: `${p.domain}/${i.group ?? i.id}`,
          })),
        );
  const labels = [...new Set(images.map((i) => i.label))].sort();
  return {
    root: parts.map((p) => p.root).join(','),
    domain: [...new Set(domains)].join('+'),
    images,
    labels,
    parts,
  };
}
