/**
 * Dataset page: the « À vérifier » review queue (hosting/src/review.ts) and the quality of the
 * reviews, images per species (bar chart + table), images per source and domain (every count
 * from one `getDatasetStats` call), thumbnails per species with cursor paging, relabel/delete
 * through the admin callables, rejected uploads.
 */
import {
  collection,
  documentId,
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
import { startReviewQueue, type ReviewCounts, type ReviewQueue } from '../review.js';
import { loadSpecies, speciesName, speciesOptions, type SpeciesSheet } from '../species.js';
import {
  byId,
  formatBytes,
  formatDate,
  formatNumber,
  formatPercent,
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
  /** The full photo (up to 1024 px). */
  imageUrl?: string;
  /** Its 256 px copy; absent for images ingested before thumbnails until `npm run migrate`. */
  thumbnailUrl?: string;
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

interface AgreementCounts {
  agreeing: number;
  differing: number;
}

/** What `getDatasetStats` answers (functions/src/handlers/admin/dataset-stats.ts). */
interface DatasetStats {
  imagesBySpecies: Record<string, number>;
  provenance: { source: string; byDomain: Record<string, number>; other: number; total: number }[];
  review: ReviewCounts & {
    agreement: { withPreselection: AgreementCounts; withoutPreselection: AgreementCounts };
    recentByReviewer: {
      reviewerUid: string;
      reviewer: string | null;
      decisions: number;
      accepted: number;
      agreeing: number;
      preselected: number;
      keptPreselection: number;
    }[];
  };
}

function showCounts(stats: DatasetStats): void {
  const counts = new Map(Object.entries(stats.imagesBySpecies));
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

const SOURCE_NAMES: Record<string, string> = {
  upload: 'Dépôts',
  import: 'Imports',
  observation: 'Observations',
  total: 'Total',
};
const DOMAIN_NAMES: [string, string][] = [
  ['crop', 'Gros plans'],
  ['field', 'Terrain'],
  ['unspecified', 'Non précisé'],
];

/** Images per source × domain; « Autres » holds named datasets' domains. */
function showProvenance(stats: DatasetStats): void {
  byId('provenance-head').replaceChildren(
    h('th', { scope: 'col' }, 'Source'),
    ...DOMAIN_NAMES.map(([, label]) => h('th', { scope: 'col' }, label)),
    h('th', { scope: 'col' }, 'Autres domaines'),
    h('th', { scope: 'col' }, 'Total'),
  );
  const cell = (label: string, n: number) =>
    h('td', { class: 'mono', 'data-label': label }, formatNumber(n));
  byId('provenance-rows').replaceChildren(
    ...stats.provenance.map((row) =>
      h(
        'tr',
        { 'data-source': row.source },
        h('th', { scope: 'row' }, SOURCE_NAMES[row.source] ?? row.source),
        ...DOMAIN_NAMES.map(([d, label]) => cell(label, row.byDomain[d] ?? 0)),
        cell('Autres domaines', row.other),
        cell('Total', row.total),
      ),
    ),
  );
}

/** « 46 sur 50 (92 %) », or « aucune » when nothing was measured. */
function share(part: number, whole: number): string {
  return whole
    ? `${formatNumber(part)} sur ${formatNumber(whole)} (${formatPercent(part / whole)})`
    : 'non mesuré';
}

/** How often reviews agree with the model: with and without preselection, then per reviewer. */
function showReviewQuality(stats: DatasetStats): void {
  const { withPreselection: on, withoutPreselection: off } = stats.review.agreement;
  const onTotal = on.agreeing + on.differing;
  const offTotal = off.agreeing + off.differing;
  const agreement = byId('review-agreement');
  agreement.dataset.withPreselection = String(onTotal ? on.agreeing / onTotal : '');
  agreement.dataset.withoutPreselection = String(offTotal ? off.agreeing / offTotal : '');
  agreement.textContent =
    `Acceptations avec la 1re proposition du modèle : avec présélection, ${share(on.agreeing, onTotal)} ; ` +
    `sans présélection, ${share(off.agreeing, offTotal)}.`;
  const rows = byId('reviewer-rows');
  const reviewers = stats.review.recentByReviewer;
  if (!reviewers.length) {
    rows.replaceChildren(
      h('tr', {}, h('td', { colspan: 5 }, 'Aucune décision enregistrée pour l’instant.')),
    );
    return;
  }
  rows.replaceChildren(
    ...reviewers.map((r) =>
      h(
        'tr',
        { 'data-reviewer': r.reviewerUid },
        h('th', { scope: 'row', class: 'file-name' }, r.reviewer ?? r.reviewerUid),
        h('td', { class: 'mono', 'data-label': 'Décisions' }, formatNumber(r.decisions)),
        h('td', { class: 'mono', 'data-label': 'Acceptées' }, formatNumber(r.accepted)),
        h(
          'td',
          { class: 'mono agreement', 'data-label': 'D’accord avec le modèle' },
          share(r.agreeing, r.accepted),
        ),
        h(
          'td',
          { class: 'mono', 'data-label': 'Présélection gardée' },
          share(r.keptPreselection, r.preselected),
        ),
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
  // 24 thumbnails weigh about 0.3 MB, the full photos 1.7 to 2.8 MB (../shared's datasets).
  const src = image.thumbnailUrl ?? image.imageUrl;
  const item = h(
    'li',
    { class: 'thumb', 'data-image-id': id },
    src
      ? h('img', {
          src,
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

let review: ReviewQueue | undefined;

async function showStats(): Promise<void> {
  const stats = await call<unknown, DatasetStats>('getDatasetStats', {});
  showCounts(stats);
  showProvenance(stats);
  showReviewQuality(stats);
  review?.setCounts(stats.review);
}

async function refreshAll(): Promise<void> {
  const results = await Promise.allSettled([
    showStats(),
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
