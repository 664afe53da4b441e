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
  read(): Promise<Buffer>;
}

export interface Dataset {
  root: string;
  images: DatasetImage[];
  labels: string[];
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

function imageOf(root: string, file: string, label: string, group?: string): DatasetImage {
  const absolute = path.join(root, file);
  return {
    id: file.split(path.sep).join('/'),
    label: speciesIdFromFolderName(label),
    group,
    read: () => readFile(absolute),
  };
}

/** Reads `manifest.json` ({images: [{label, file, group}]}) when present, else species-named subfolders. */
export async function readDataset(root: string): Promise<Dataset> {
  const manifestPath = path.join(root, 'manifest.json');
  let images: DatasetImage[];
  if (existsSync(manifestPath)) {
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as {
      images: ManifestEntry[];
    };
    images = manifest.images.map((e) => imageOf(root, e.file, e.label, e.group));
  } else {
    images = [];
    const entries = await readdir(root, { withFileTypes: true });
    for (const entry of entries
      .filter((e) => e.isDirectory())
      .sort((a, b) => a.name.localeCompare(b.name))) {
      const files = (await readdir(path.join(root, entry.name))).filter((f) =>
        IMAGE_EXTENSIONS.has(path.extname(f).toLowerCase()),
      );
      for (const file of files.sort())
        images.push(imageOf(root, path.join(entry.name, file), entry.name));
    }
  }
  const labels = [...new Set(images.map((i) => i.label))].sort();
  return { root, images, labels };
}
