/**
 * Upload page: pick a species, drop files or folders, check them client-side, get upload URLs
 * from `createUploadUrls` (admin callable), PUT the bytes straight to Storage in parallel, then
 * follow each file's ingestion outcome live in `uploads/{uploadId}`.
 */
import { collection, onSnapshot, query, where, type Unsubscribe } from 'firebase/firestore';
import { errorCode, frenchError } from '../errors.js';
import { call, type Firebase } from '../firebase.js';
import { loadSpecies, speciesName, speciesOptions, type SpeciesSheet } from '../species.js';
import {
  PARALLEL_UPLOADS,
  URLS_PER_CALL,
  chunk,
  clientRejection,
  contentTypeOf,
  entriesOf,
  filesOfEntries,
  plural,
  putFile,
  runPool,
  summaryLine,
  type PickedFile,
  type StateCounts,
} from '../uploads.js';
import { byId, formatBytes, formatPercent, h, requireAdmin, say, sayError } from '../ui.js';

type State = keyof StateCounts;

const STATE_LABELS: Record<State, string> = {
  ready: 'Prêt à envoyer',
  invalid: 'Refusé avant envoi',
  requesting: 'Préparation…',
  queued: 'En file d’attente',
  uploading: 'Envoi…',
  uploaded: 'Envoyé, traitement en cours…',
  failed: 'Échec de l’envoi',
  accepted: 'accepté',
  duplicate: 'doublon',
  conflict: 'conflit',
  rejected: 'refusé',
};

interface Item {
  key: string;
  file: File;
  path: string;
  contentType: string;
  state: State;
  reason?: string;
  loaded: number;
  speciesId?: string;
  uploadId?: string;
  uploadUrl?: string;
  row: HTMLTableRowElement;
  progress: HTMLProgressElement;
  stateCell: HTMLElement;
  actionCell: HTMLElement;
}

interface UploadUrlsResponse {
  batchId: string;
  uploads: { name: string; objectName: string; uploadId: string; uploadUrl: string }[];
}

const items: Item[] = [];
const byUploadId = new Map<string, Item>();
const listeners: Unsubscribe[] = [];
let species: SpeciesSheet[] = [];
let sending = false;

const speciesSelect = byId<HTMLSelectElement>('species');
const rows = byId('file-rows');
const summary = byId('summary');
const status = byId('upload-status');
const overall = byId<HTMLProgressElement>('overall');
const overallText = byId('overall-text');
const sendButton = byId<HTMLButtonElement>('send');
const retryAllButton = byId<HTMLButtonElement>('retry-all');
const clearButton = byId<HTMLButtonElement>('clear');

function setState(item: Item, state: State, reason?: string): void {
  item.state = state;
  item.reason = reason;
  item.row.dataset.state = state;
  const label = STATE_LABELS[state];
  item.stateCell.replaceChildren(
    h('span', { class: `badge badge-${state}` }, label),
    ...(reason ? [h('span', { class: 'reason' }, ` ${reason}`)] : []),
  );
  if (state === 'failed') {
    const retry = h(
      'button',
      { type: 'button', class: 'small', 'aria-label': `Réessayer l’envoi de ${item.path}` },
      'Réessayer',
    );
    retry.addEventListener('click', () => void send([item]));
    item.actionCell.replaceChildren(retry);
  } else {
    item.actionCell.replaceChildren();
  }
  if (['accepted', 'duplicate', 'conflict', 'rejected', 'uploaded'].includes(state)) {
    item.loaded = item.file.size;
    item.progress.value = 100;
  }
  refreshSummary();
}

function setProgress(item: Item, loaded: number): void {
  item.loaded = loaded;
  item.progress.value = item.file.size ? Math.round((loaded / item.file.size) * 100) : 100;
  scheduleSummary();
}

let summaryPending = false;
function scheduleSummary(): void {
  if (summaryPending) return;
  summaryPending = true;
  requestAnimationFrame(() => {
    summaryPending = false;
    refreshSummary();
  });
}

function refreshSummary(): void {
  const count = (s: State): number => items.filter((i) => i.state === s).length;
  const sendable = items.filter((i) => i.state !== 'invalid');
  const total = sendable.reduce((sum, i) => sum + i.file.size, 0);
  const loaded = sendable.reduce((sum, i) => sum + Math.min(i.loaded, i.file.size), 0);
  const ratio = total ? loaded / total : 0;
  overall.value = Math.round(ratio * 100);
  overall.textContent = formatPercent(ratio);
  overallText.textContent = formatPercent(ratio);
  summary.textContent = summaryLine(
    items.length,
    Object.fromEntries(
      (Object.keys(STATE_LABELS) as State[]).map((state) => [state, count(state)]),
    ) as StateCounts,
  );
  const inProgress = items.some((i) =>
    ['ready', 'requesting', 'queued', 'uploading', 'uploaded'].includes(i.state),
  );
  byId('next-step').hidden = sending || inProgress || count('accepted') === 0;
  sendButton.disabled = sending || count('ready') === 0;
  retryAllButton.hidden = count('failed') === 0;
  retryAllButton.disabled = sending;
  clearButton.disabled = sending || items.length === 0;
}

function addFiles(picked: PickedFile[]): void {
  let added = 0;
  for (const { file, path } of picked) {
    const key = `${path}|${file.size}|${file.lastModified}`;
    if (items.some((i) => i.key === key)) continue;
    const progress = h('progress', { max: 100, value: 0, 'aria-label': `Progression de ${path}` });
    const stateCell = h('td', { class: 'state outcome' });
    const actionCell = h('td', {});
    // The outcome first: on a phone, the rows become cards that start with it.
    const row = h(
      'tr',
      {},
      stateCell,
      h('td', { class: 'file-name' }, path),
      h('td', { class: 'mono', 'data-label': 'Taille' }, formatBytes(file.size)),
      h('td', { 'data-label': 'Progression' }, progress),
      actionCell,
    );
    const item: Item = {
      key,
      file,
      path,
      contentType: contentTypeOf(file),
      state: 'ready',
      loaded: 0,
      row,
      progress,
      stateCell,
      actionCell,
    };
    rows.append(row);
    items.push(item);
    const rejection = clientRejection(file);
    setState(item, rejection ? 'invalid' : 'ready', rejection);
    added++;
  }
  const invalid = items.filter((i) => i.state === 'invalid').length;
  say(
    status,
    added
      ? `${plural(added, 'fichier ajouté', 'fichiers ajoutés')}${invalid ? `, dont ${plural(invalid, 'refusé', 'refusés')} avant envoi (voir la raison sur chaque ligne)` : ''}.`
      : 'Ces fichiers sont déjà dans la liste.',
    invalid ? 'warning' : 'info',
  );
  refreshSummary();
}

/** Per-file reasons a createUploadUrls refusal may carry in its details. */
function perFileReasons(err: unknown): Map<string, string> {
  const map = new Map<string, string>();
  const details = (err as { details?: unknown }).details as
    { files?: { name?: string; index?: number; reason?: string }[] } | undefined;
  for (const entry of details?.files ?? []) {
    if (entry.reason && entry.name) map.set(entry.name, entry.reason);
    if (entry.reason && typeof entry.index === 'number') map.set(`#${entry.index}`, entry.reason);
  }
  return map;
}

function watchBatch(fb: Firebase, batchId: string): void {
  const q = query(collection(fb.db, 'uploads'), where('batchId', '==', batchId));
  listeners.push(
    onSnapshot(
      q,
      (snap) => {
        for (const change of snap.docChanges()) {
          const item = byUploadId.get(change.doc.id);
          const data = change.doc.data() as { status?: string; reason?: string };
          if (!item || !data.status) continue;
          const state = (
            ['accepted', 'duplicate', 'conflict', 'rejected'].includes(data.status)
              ? data.status
              : undefined
          ) as State | undefined;
          if (state) setState(item, state, data.reason);
        }
      },
      (err) => sayError(status, err, 'Suivi du traitement interrompu : '),
    ),
  );
}

async function requestUrls(
  fb: Firebase,
  speciesId: string,
  domain: string,
  batch: Item[],
): Promise<Item[]> {
  for (const item of batch) setState(item, 'requesting');
  let response: UploadUrlsResponse;
  try {
    response = await call<unknown, UploadUrlsResponse>('createUploadUrls', {
      speciesId,
      domain,
      files: batch.map((i) => ({
        name: i.file.name,
        size: i.file.size,
        contentType: i.contentType,
      })),
    });
  } catch (err) {
    const reasons = perFileReasons(err);
    const message = frenchError(err);
    batch.forEach((item, index) => {
      const reason = reasons.get(item.file.name) ?? reasons.get(`#${index}`);
      // A refusal about this file's content will not change on retry: it is final.
      if (reason) setState(item, 'invalid', reason);
      else setState(item, 'failed', message);
    });
    if (errorCode(err) === 'permission-denied' || errorCode(err) === 'unauthenticated') {
      say(status, message, 'error');
    }
    return [];
  }
  watchBatch(fb, response.batchId);
  const ready: Item[] = [];
  batch.forEach((item, index) => {
    const upload = response.uploads[index];
    if (!upload) {
      setState(item, 'failed', 'Aucune adresse d’envoi reçue pour ce fichier.');
      return;
    }
    item.uploadId = upload.uploadId;
    item.uploadUrl = upload.uploadUrl;
    item.speciesId = speciesId;
    byUploadId.set(upload.uploadId, item);
    setState(item, 'queued');
    ready.push(item);
  });
  return ready;
}

async function upload(item: Item): Promise<void> {
  if (!item.uploadUrl) return;
  setState(item, 'uploading');
  setProgress(item, 0);
  try {
    await putFile(item.uploadUrl, item.file, item.contentType, (loaded) =>
      setProgress(item, loaded),
    );
    // The outcome may already have arrived from Firestore: keep it.
    if (item.state === 'uploading') setState(item, 'uploaded');
  } catch (err) {
    setProgress(item, 0);
    setState(item, 'failed', frenchError(err));
  }
}

let fbRef: Firebase | undefined;

async function send(selection?: Item[]): Promise<void> {
  const fb = fbRef;
  if (!fb || sending) return;
  const speciesId = speciesSelect.value;
  const toSend = selection ?? items.filter((i) => i.state === 'ready' || i.state === 'failed');
  if (!toSend.length) return;
  if (!speciesId) {
    say(status, 'Choisissez d’abord l’espèce représentée sur les photos.', 'error');
    speciesSelect.focus();
    return;
  }
  const domain = document.querySelector<HTMLInputElement>('input[name="domain"]:checked')?.value;
  if (!domain) {
    say(status, 'Indiquez le type de photos du lot : gros plans ou photos de terrain.', 'error');
    document.querySelector<HTMLInputElement>('input[name="domain"]')?.focus();
    return;
  }
  sending = true;
  refreshSummary();
  say(
    status,
    `Envoi de ${plural(toSend.length, 'photo', 'photos')} (${speciesName(species, speciesId)}, ${domain === 'crop' ? 'gros plans' : 'photos de terrain'})…`,
  );
  try {
    for (const batch of chunk(toSend, URLS_PER_CALL)) {
      const ready = await requestUrls(fb, speciesId, domain, batch);
      await runPool(ready, PARALLEL_UPLOADS, upload);
    }
    const failed = toSend.filter((i) => i.state === 'failed').length;
    say(
      status,
      failed
        ? `Envoi terminé avec ${plural(failed, 'échec', 'échecs')} : utilisez « Réessayer ».`
        : 'Envoi terminé : le traitement de chaque photo s’affiche ci-dessous.',
      failed ? 'warning' : 'success',
    );
  } catch (err) {
    sayError(status, err, 'Envoi interrompu : ');
  } finally {
    sending = false;
    refreshSummary();
  }
}

function clearList(): void {
  for (const stop of listeners.splice(0)) stop();
  items.splice(0);
  byUploadId.clear();
  rows.replaceChildren();
  say(status, '');
  refreshSummary();
}

function wireInputs(): void {
  const dropzone = byId('dropzone');
  for (const id of ['files', 'folder']) {
    const input = byId<HTMLInputElement>(id);
    input.addEventListener('change', () => {
      const picked = [...(input.files ?? [])].map((file) => ({
        file,
        path: file.webkitRelativePath || file.name,
      }));
      addFiles(picked);
      input.value = '';
    });
  }
  dropzone.addEventListener('dragover', (event) => {
    event.preventDefault();
    dropzone.classList.add('dragging');
  });
  dropzone.addEventListener('dragleave', () => dropzone.classList.remove('dragging'));
  dropzone.addEventListener('drop', (event) => {
    event.preventDefault();
    dropzone.classList.remove('dragging');
    const dt = event.dataTransfer;
    if (!dt) return;
    const entries = entriesOf(dt);
    const loose = [...dt.files].map((file) => ({ file, path: file.name }));
    if (!entries) {
      addFiles(loose);
      return;
    }
    say(status, 'Lecture des dossiers déposés…');
    filesOfEntries(entries).then(addFiles, (err: unknown) =>
      sayError(status, err, 'Lecture des fichiers déposés impossible : '),
    );
  });
  // Dropping next to the zone must not navigate away from the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
  sendButton.addEventListener('click', () => void send());
  retryAllButton.addEventListener(
    'click',
    () => void send(items.filter((i) => i.state === 'failed')),
  );
  clearButton.addEventListener('click', clearList);
  window.addEventListener('beforeunload', (event) => {
    if (sending) event.preventDefault();
  });
}

async function main(): Promise<void> {
  const { fb } = await requireAdmin();
  fbRef = fb;
  wireInputs();
  try {
    species = await loadSpecies();
    const preselect = new URLSearchParams(location.search).get('espece') ?? undefined;
    speciesSelect.append(...speciesOptions(species, preselect));
  } catch (err) {
    sayError(status, err, 'Catalogue des espèces indisponible : ');
  }
  refreshSummary();
}

main().catch((err: unknown) => sayError(status, err));
