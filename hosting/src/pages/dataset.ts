/**
 * Dataset page: the « À vérifier » review queue (hosting/src/review.ts), images per species
 * (count aggregation + bar chart), images per source and domain, thumbnails per species with
 * cursor paging, relabel/delete through the admin callables, rejected uploads.
 */
import {
  collection,
  documentId,
  getCountFromServer,
  getDocs,
  limit,
  orderBy,
  query,
  startAfter,
  where,
  type QueryDocumentSnapshot,
} from 'firebase/firestore';
import { COLOURS, drawChart } from '../charts.js';
import { frenchError } from '../errors.js';
import { call, type Firebase } from '../firebase.js';
import { startReviewQueue } from '../review.js';
import { loadSpecies, speciesName, speciesOptions, type SpeciesSheet } from '../species.js';
import {
  byId,
  formatBytes,
  formatDate,
  formatNumber,
  h,
  requireAdmin,
  say,
  sayError,
  toDate,
  withBusy,
} from '../ui.js';

const PAGE_SIZE = 24;

interface TrainingImageDoc {
  speciesId: string;
  imageUrl?: string;
  sourceName?: string;
  width?: number;
  height?: number;
  bytes?: number;
  createdAt?: unknown;
  conflictingLabels?: string[];
}

let fb: Firebase;
let species: SpeciesSheet[] = [];
const status = byId('dataset-status');
const thumbsStatus = byId('thumbs-status');
const thumbSpecies = byId<HTMLSelectElement>('thumb-species');
const prevButton = byId<HTMLButtonElement>('prev-page');
const nextButton = byId<HTMLButtonElement>('next-page');

/** Cursor of each page start (undefined for the first page). */
let pageStarts: (QueryDocumentSnapshot | undefined)[] = [undefined];
let pageIndex = 0;

async function loadCounts(): Promise<Map<string, number>> {
  const images = collection(fb.db, 'trainingImages');
  const entries = await Promise.all(
    species.map(async (s) => {
      const snap = await getCountFromServer(query(images, where('speciesId', '==', s.speciesId)));
      return [s.speciesId, snap.data().count] as const;
    }),
  );
  return new Map(entries);
}

async function showCounts(): Promise<void> {
  const counts = await loadCounts();
  const rows = byId('count-rows');
  let total = 0;
  rows.replaceChildren(
    ...species.map((s) => {
      const n = counts.get(s.speciesId) ?? 0;
      total += n;
      const show = h(
        'button',
        { type: 'button', class: 'small', 'aria-label': `Voir les photos : ${s.nameFr}` },
        'Voir',
      );
      show.addEventListener('click', () => {
        thumbSpecies.value = s.speciesId;
        void resetPaging();
        byId('thumbs-title').scrollIntoView({ behavior: 'smooth' });
      });
      return h(
        'tr',
        { 'data-species': s.speciesId },
        h('th', { scope: 'row' }, s.nameFr),
        h('td', { class: 'mono count' }, formatNumber(n)),
        h('td', {}, show),
      );
    }),
  );
  byId('count-total').textContent = formatNumber(total);
  const values = species.map((s) => counts.get(s.speciesId) ?? 0);
  const max = Math.max(...values);
  const canvas = byId<HTMLCanvasElement>('balance-chart');
  canvas.setAttribute(
    'aria-label',
    `Nombre d’images par espèce : ${species.map((s, i) => `${s.nameFr} ${values[i]}`).join(', ')}.`,
  );
  drawChart(canvas, {
    type: 'bar',
    data: {
      labels: species.map((s) => s.nameFr),
      datasets: [
        {
          label: 'Images',
          data: values,
          // Under-represented classes (< half of the largest) stand out.
          backgroundColor: values.map((v) => (v < max / 2 ? COLOURS.warn : COLOURS.accent)),
        },
      ],
    },
    options: {
      indexAxis: 'y',
      plugins: { legend: { display: false } },
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
}

const SOURCE_NAMES: [string, string][] = [
  ['upload', 'Dépôts'],
  ['import', 'Imports'],
  ['observation', 'Observations'],
];
const DOMAIN_NAMES: [string, string][] = [
  ['crop', 'Gros plans'],
  ['field', 'Terrain'],
  ['unspecified', 'Non précisé'],
];

/**
 * Images per source × domain, from count aggregations (no image is read). Uploads are what
 * the other sources leave (images recorded before sources existed count as uploads), and
 * « Autres » holds named datasets' domains.
 */
async function showProvenance(): Promise<void> {
  const images = collection(fb.db, 'trainingImages');
  const count = async (...filters: ReturnType<typeof where>[]) =>
    (await getCountFromServer(query(images, ...filters))).data().count;
  const explicit = SOURCE_NAMES.slice(1).map(([id]) => id);
  const [total, byDomain, bySource, cells] = await Promise.all([
    count(),
    Promise.all(DOMAIN_NAMES.map(([d]) => count(where('domain', '==', d)))),
    Promise.all(explicit.map((s) => count(where('source', '==', s)))),
    Promise.all(
      explicit.map((s) =>
        Promise.all(
          DOMAIN_NAMES.map(([d]) => count(where('source', '==', s), where('domain', '==', d))),
        ),
      ),
    ),
  ]);
  const rowOf = (rowTotal: number, perDomain: number[]) => [
    ...perDomain,
    rowTotal - perDomain.reduce((a, b) => a + b, 0),
    rowTotal,
  ];
  const rows = [
    rowOf(
      total - bySource.reduce((a, b) => a + b, 0),
      byDomain.map((n, j) => n - cells.reduce((sum, row) => sum + (row[j] ?? 0), 0)),
    ),
    ...explicit.map((_, i) => rowOf(bySource[i] ?? 0, cells[i] ?? [])),
    rowOf(total, byDomain),
  ];
  byId('provenance-head').replaceChildren(
    h('th', { scope: 'col' }, 'Source'),
    ...DOMAIN_NAMES.map(([, label]) => h('th', { scope: 'col' }, label)),
    h('th', { scope: 'col' }, 'Autres domaines'),
    h('th', { scope: 'col' }, 'Total'),
  );
  byId('provenance-rows').replaceChildren(
    ...rows.map((values, i) =>
      h(
        'tr',
        { 'data-source': SOURCE_NAMES[i]?.[0] ?? 'total' },
        h('th', { scope: 'row' }, SOURCE_NAMES[i]?.[1] ?? 'Total'),
        ...values.map((n) => h('td', { class: 'mono' }, formatNumber(n))),
      ),
    ),
  );
}

function thumbnail(id: string, image: TrainingImageDoc): HTMLElement {
  const name = speciesName(species, image.speciesId);
  const relabelId = `relabel-${id.slice(0, 12)}`;
  const select = h('select', { id: relabelId }, ...speciesOptions(species, image.speciesId));
  const relabel = h('button', { type: 'button', class: 'small' }, 'Changer d’espèce');
  const remove = h('button', { type: 'button', class: 'small danger' }, 'Supprimer');
  const item = h(
    'li',
    { class: 'thumb', 'data-image-id': id },
    image.imageUrl
      ? h('img', {
          src: image.imageUrl,
          alt: `Photo d’empreinte étiquetée ${name}${image.sourceName ? ` (${image.sourceName})` : ''}`,
          loading: 'lazy',
          width: 160,
          height: 160,
        })
      : h('p', { class: 'hint' }, 'Vignette indisponible'),
    h(
      'p',
      { class: 'meta' },
      [
        image.sourceName ?? id.slice(0, 12),
        image.width && image.height ? `${image.width}×${image.height}` : '',
        image.bytes ? formatBytes(image.bytes) : '',
        formatDate(image.createdAt),
      ]
        .filter(Boolean)
        .join(' · '),
    ),
    image.conflictingLabels?.length
      ? h(
          'p',
          { class: 'meta' },
          `Aussi déposée comme : ${image.conflictingLabels.map((l) => speciesName(species, l)).join(', ')}`,
        )
      : null,
    h('label', { class: 'visually-hidden', for: relabelId }, `Nouvelle espèce pour cette photo`),
    select,
    h('div', { class: 'actions' }, relabel, remove),
  );
  relabel.addEventListener('click', () => {
    const target = select.value;
    if (target === image.speciesId) {
      say(thumbsStatus, 'Choisissez une autre espèce dans la liste avant de changer.', 'warning');
      select.focus();
      return;
    }
    void withBusy(relabel, 'Changement…', async () => {
      try {
        await call('relabelTrainingImage', { imageId: id, speciesId: target });
        // Refresh first, so the success message appears once the list is up to date.
        await refreshAll();
        say(
          thumbsStatus,
          `Photo déplacée de ${name} vers ${speciesName(species, target)}.`,
          'success',
        );
      } catch (err) {
        say(thumbsStatus, `Changement d’espèce impossible : ${frenchError(err)}`, 'error');
      }
    });
  });
  remove.addEventListener('click', () => {
    if (!confirm(`Supprimer définitivement cette photo (${name}) du jeu d’entraînement ?`)) return;
    void withBusy(remove, 'Suppression…', async () => {
      try {
        await call('deleteTrainingImage', { imageId: id });
        await refreshAll();
        say(thumbsStatus, `Photo supprimée du jeu d’entraînement (${name}).`, 'success');
      } catch (err) {
        say(thumbsStatus, `Suppression impossible : ${frenchError(err)}`, 'error');
      }
    });
  });
  return item;
}

async function showPage(): Promise<void> {
  const speciesId = thumbSpecies.value;
  const list = byId('thumbs');
  const cursor = pageStarts[pageIndex];
  const constraints = [
    where('speciesId', '==', speciesId),
    // Equality + document id order needs no composite index.
    orderBy(documentId()),
    ...(cursor ? [startAfter(cursor)] : []),
    limit(PAGE_SIZE + 1),
  ];
  const snap = await getDocs(query(collection(fb.db, 'trainingImages'), ...constraints));
  const docs = snap.docs.slice(0, PAGE_SIZE);
  const hasNext = snap.docs.length > PAGE_SIZE;
  pageStarts[pageIndex + 1] = hasNext ? docs[docs.length - 1] : undefined;
  list.replaceChildren(...docs.map((d) => thumbnail(d.id, d.data() as TrainingImageDoc)));
  prevButton.disabled = pageIndex === 0;
  nextButton.disabled = !hasNext;
  byId('page-label').textContent = `Page ${pageIndex + 1}`;
  if (!docs.length && pageIndex === 0) {
    say(thumbsStatus, `Aucune photo pour ${speciesName(species, speciesId)} pour l’instant.`);
  } else if (thumbsStatus.dataset.tone !== 'success' && thumbsStatus.dataset.tone !== 'error') {
    say(thumbsStatus, '');
  }
}

async function resetPaging(): Promise<void> {
  pageStarts = [undefined];
  pageIndex = 0;
  await showPage().catch((err: unknown) => sayError(thumbsStatus, err, 'Chargement impossible : '));
}

async function showRejected(): Promise<void> {
  const snap = await getDocs(
    query(collection(fb.db, 'uploads'), where('status', '==', 'rejected'), limit(100)),
  );
  const docs = snap.docs
    .map(
      (d) =>
        d.data() as {
          fileName?: string;
          speciesId?: string;
          reason?: string;
          processedAt?: unknown;
        },
    )
    .sort(
      (a, b) => (toDate(b.processedAt)?.getTime() ?? 0) - (toDate(a.processedAt)?.getTime() ?? 0),
    );
  const rows = byId('rejected-rows');
  if (!docs.length) {
    rows.replaceChildren(h('tr', {}, h('td', { colspan: 4 }, 'Aucun fichier refusé.')));
    return;
  }
  rows.replaceChildren(
    ...docs.map((d) =>
      h(
        'tr',
        {},
        h('td', { class: 'file-name' }, d.fileName ?? '—'),
        h('td', {}, speciesName(species, d.speciesId)),
        h('td', { class: 'reason' }, d.reason ?? 'Raison inconnue'),
        h('td', { class: 'mono' }, formatDate(d.processedAt)),
      ),
    ),
  );
}

let review: { refresh(): Promise<void> } | undefined;

async function refreshAll(): Promise<void> {
  const results = await Promise.allSettled([
    showCounts(),
    showProvenance(),
    showPage(),
    showRejected(),
    review?.refresh(),
  ]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) sayError(status, failed.reason, 'Chargement incomplet : ');
}

async function main(): Promise<void> {
  ({ fb } = await requireAdmin());
  species = await loadSpecies();
  review = startReviewQueue(fb, species);
  const linkedSpecies = new URLSearchParams(location.search).get('espece');
  const preselect = linkedSpecies ?? species[0]?.speciesId;
  thumbSpecies.append(...speciesOptions(species, preselect));
  thumbSpecies.addEventListener('change', () => void resetPaging());
  prevButton.addEventListener('click', () => {
    pageIndex = Math.max(0, pageIndex - 1);
    void showPage().catch((err: unknown) => sayError(thumbsStatus, err));
  });
  nextButton.addEventListener('click', () => {
    pageIndex += 1;
    void showPage().catch((err: unknown) => sayError(thumbsStatus, err));
  });
  byId('refresh').addEventListener('click', () => {
    const button = byId<HTMLButtonElement>('refresh');
    void withBusy(button, 'Actualisation…', refreshAll);
  });
  await refreshAll();
  // A link to one species' photos shows them (their thumbnails load lazily, once in view).
  if (linkedSpecies) byId('thumbs-title').scrollIntoView();
  document.body.dataset.ready = 'true';
}

main().catch((err: unknown) => sayError(status, err, 'Page indisponible : '));
