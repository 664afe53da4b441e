/** Pure helpers of the upload page: client-side checks and folder traversal. */

export const MAX_UPLOAD_BYTES = 20 * 1024 * 1024;
export const ACCEPTED_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;
/** createUploadUrls accepts at most this many files per call. */
export const URLS_PER_CALL = 200;
export const PARALLEL_UPLOADS = 4;

const TYPE_BY_EXTENSION: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  jfif: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
  gif: 'image/gif',
};

/** The declared type, or one guessed from the extension when the browser gives none. */
export function contentTypeOf(file: { name: string; type: string }): string {
  if (file.type) return file.type;
  const ext = file.name.toLowerCase().split('.').pop() ?? '';
  return TYPE_BY_EXTENSION[ext] ?? '';
}

/** A French reason why the file cannot be sent, or undefined when it can. */
export function clientRejection(file: {
  name: string;
  size: number;
  type: string;
}): string | undefined {
  if (file.name.startsWith('.')) return 'Fichier caché ignoré.';
  if (file.size === 0) return 'Fichier vide.';
  if (file.size > MAX_UPLOAD_BYTES) {
    return `Trop volumineux (${(file.size / 1024 / 1024).toFixed(1).replace('.', ',')} Mo, 20 Mo au maximum).`;
  }
  const type = contentTypeOf(file);
  if (!(ACCEPTED_TYPES as readonly string[]).includes(type)) {
    if (type === 'image/heic' || type === 'image/heif') {
      return 'Format HEIC non pris en charge : exportez la photo en JPEG.';
    }
    return `Format non pris en charge (${type || 'inconnu'}) : JPEG, PNG ou WebP attendu.`;
  }
  return undefined;
}

export interface PickedFile {
  file: File;
  /** Path inside the dropped or chosen folder (the name for loose files). */
  path: string;
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

function readBatch(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

/** Walks a dropped entry; directories are read in batches until readEntries returns none. */
export async function walkEntry(
  entry: FileSystemEntry,
  out: PickedFile[] = [],
): Promise<PickedFile[]> {
  if (entry.isFile) {
    const file = await fileOf(entry as FileSystemFileEntry);
    out.push({ file, path: entry.fullPath.replace(/^\//, '') || file.name });
  } else if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await readBatch(reader);
      if (!batch.length) break;
      for (const child of batch) await walkEntry(child, out);
    }
  }
  return out;
}

/**
 * Files of a drop, folders included. The entries must be taken synchronously inside the drop
 * handler (the DataTransfer is emptied afterwards), hence the two-step API.
 */
export function entriesOf(dt: DataTransfer): FileSystemEntry[] | undefined {
  const items = [...dt.items].filter((i) => i.kind === 'file');
  if (!items.length || typeof items[0]?.webkitGetAsEntry !== 'function') return undefined;
  return items.map((i) => i.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
}

export async function filesOfEntries(entries: FileSystemEntry[]): Promise<PickedFile[]> {
  const out: PickedFile[] = [];
  for (const entry of entries) await walkEntry(entry, out);
  return out;
}

/** « 1 fichier », « 12 fichiers ». */
export const plural = (n: number, one: string, many: string): string =>
  `${n} ${n > 1 ? many : one}`;

/** How many files of a batch are in each state of the upload page. */
export type StateCounts = Record<
  | 'ready'
  | 'invalid'
  | 'requesting'
  | 'queued'
  | 'uploading'
  | 'uploaded'
  | 'failed'
  | 'accepted'
  | 'duplicate'
  | 'conflict'
  | 'rejected',
  number
>;

/** One line: the files, then only the states that occur (« 12 fichiers : 8 acceptés, 2 doublons. »). */
export function summaryLine(total: number, counts: StateCounts): string {
  if (!total) return 'Aucune photo sélectionnée.';
  const sending = counts.requesting + counts.queued + counts.uploading;
  const refused = counts.rejected + counts.invalid;
  const parts = [
    counts.ready && plural(counts.ready, 'prêt à envoyer', 'prêts à envoyer'),
    sending && `${sending} en cours d’envoi`,
    counts.uploaded && `${counts.uploaded} en traitement`,
    counts.accepted && plural(counts.accepted, 'accepté', 'acceptés'),
    counts.duplicate && plural(counts.duplicate, 'doublon', 'doublons'),
    counts.conflict && plural(counts.conflict, 'conflit', 'conflits'),
    refused && plural(refused, 'refusé', 'refusés'),
    counts.failed && plural(counts.failed, 'échec d’envoi', 'échecs d’envoi'),
  ].filter(Boolean);
  return `${plural(total, 'fichier', 'fichiers')} : ${parts.join(', ')}.`;
}

export function chunk<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** Runs `task` over `items` with at most `limit` in flight. */
export async function runPool<T>(
  items: T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await task(item);
    }
  });
  await Promise.all(workers);
}

/** Sends one file with a single PUT to a resumable-upload session URI, reporting progress. */
export function putFile(
  url: string,
  file: Blob,
  contentType: string,
  onProgress: (loaded: number) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    xhr.setRequestHeader('Content-Type', contentType);
    xhr.upload.addEventListener('progress', (e) => onProgress(e.loaded));
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(file.size);
        resolve();
      } else {
        reject(new Error(`Le stockage a refusé l’envoi (HTTP ${xhr.status}).`));
      }
    });
    xhr.addEventListener('error', () =>
      reject(new Error('Échec réseau pendant l’envoi : le stockage est-il joignable ?')),
    );
    xhr.addEventListener('abort', () => reject(new Error('Envoi annulé.')));
    xhr.addEventListener('timeout', () => reject(new Error('L’envoi a pris trop de temps.')));
    xhr.send(file);
  });
}
