/**
 * Training page: start a run (disabled while one is active), follow the run document live
 * (phase, progress, loss/accuracy curves, promotion decision), runs history, model registry
 * with benchmark figures per domain and the paired test behind each automatic promotion,
 * confusion matrix, per-species recall, promote and rollback.
 */
import { collection, doc, limit, onSnapshot, orderBy, query } from 'firebase/firestore';
import { renderBacklog } from '../backlog.js';
import { COLOURS, drawChart } from '../charts.js';
import { frenchError } from '../errors.js';
import { call, type Firebase } from '../firebase.js';
import {
  promotionSentence,
  promotionVerdict,
  type PairedTest,
  type Promotion,
} from '../promotion-text.js';
import { loadSpecies, speciesName, type SpeciesSheet } from '../species.js';
import { labelCells } from '../tables.js';
import {
  byId,
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

/** Figures of a model on the frozen benchmark (trainer/src/benchmark.ts). */
interface Figures {
  n?: number;
  top1?: number;
  top3?: number;
  macroF1?: number;
  identifiedCoverage?: number;
  identifiedPrecision?: number;
  falseRejectRate?: number;
}

interface RunDoc {
  status?: 'queued' | 'running' | 'succeeded' | 'failed';
  phase?: string;
  phaseLabel?: string;
  progress?: { done?: number; total?: number };
  curve?: { epoch: number; loss: number; accuracy: number }[];
  datasetCounts?: Record<string, number>;
  benchmarkSize?: number;
  createdAt?: unknown;
  startedAt?: unknown;
  heartbeatAt?: unknown;
  finishedAt?: unknown;
  error?: string;
  modelVersion?: string;
  promoted?: boolean;
  promotion?: Promotion;
  /** Images of its snapshot erased since (a user deleted them or withdrew consent). */
  erasedImages?: number;
}

interface ModelDoc {
  version?: string;
  createdAt?: unknown;
  runId?: string;
  backbone?: { id?: string };
  metrics?: Figures & {
    byDomain?: Record<string, Figures>;
    perSpeciesRecall?: Record<string, number>;
    confusion?: { labels?: string[]; rows?: Record<string, number[]> };
  };
  promotion?: Promotion;
  status?: 'active' | 'candidate' | 'retired';
  durationMs?: number;
}

interface ActiveModel {
  version?: string;
  history?: string[];
}

const PHASES: Record<string, string> = {
  queued: 'En file d’attente',
  loading: 'Chargement des photos',
  embedding: 'Calcul des descripteurs d’images',
  training: 'Entraînement du classifieur',
  evaluating: 'Évaluation',
  exporting: 'Export du modèle',
  done: 'Terminé',
};
const STATUSES: Record<string, string> = {
  queued: 'en attente',
  running: 'en cours',
  succeeded: 'réussi',
  failed: 'échoué',
};
const MODEL_STATUSES: Record<string, string> = {
  active: 'actif',
  candidate: 'candidat',
  retired: 'retiré',
};
const DOMAINS: Record<string, string> = {
  crop: 'Gros plans',
  field: 'Photos de terrain',
  unspecified: 'Domaine non précisé',
};
/** A queued/running run without heartbeat for this long is considered stuck. */
const STALE_MS = 15 * 60 * 1000;

let fb: Firebase;
let species: SpeciesSheet[] = [];
let runs: { id: string; data: RunDoc }[] = [];
let models: { id: string; data: ModelDoc }[] = [];
let active: ActiveModel = {};
let followedRunId: string | undefined;
let detailsVersion: string | undefined;

const status = byId('training-status');
const startButton = byId<HTMLButtonElement>('start');
const rollbackButton = byId<HTMLButtonElement>('rollback');

function phaseText(run: RunDoc): string {
  if (run.phaseLabel) return run.phaseLabel;
  return (run.phase && PHASES[run.phase]) ?? run.phase ?? '—';
}

function isActive(run: RunDoc): boolean {
  if (run.status !== 'queued' && run.status !== 'running') return false;
  const last = toDate(run.heartbeatAt) ?? toDate(run.startedAt) ?? toDate(run.createdAt);
  return !last || Date.now() - last.getTime() < STALE_MS;
}

function duration(run: RunDoc): string {
  const start = toDate(run.startedAt) ?? toDate(run.createdAt);
  const end = toDate(run.finishedAt) ?? (isActive(run) ? new Date() : undefined);
  if (!start || !end) return '—';
  const s = Math.max(0, Math.round((end.getTime() - start.getTime()) / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

const domainName = (domain: string): string => DOMAINS[domain] ?? `Domaine « ${domain} »`;

function formatP(p: number | undefined): string {
  if (typeof p !== 'number' || !Number.isFinite(p)) return '—';
  return p < 0.001 ? '< 0,001' : p.toFixed(3).replace('.', ',');
}

/** A rate, or « non mesuré » when nothing was measured (no photo, nothing answered). */
function measured(rate: number | undefined, over: number | undefined): string {
  return over ? formatPercent(rate) : 'non mesuré';
}

function tableOf(caption: string, head: string[], rows: HTMLElement[]): HTMLElement {
  return h(
    'table',
    {},
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, ...head.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, ...rows),
  );
}

/** Whole benchmark, then each domain: n, top-1, top-3, "identified" precision/coverage, false rejects. */
function domainFiguresTable(metrics: NonNullable<ModelDoc['metrics']>): HTMLElement {
  const row = (name: string, f: Figures, domain: string) =>
    h(
      'tr',
      { 'data-domain': domain },
      h('th', { scope: 'row' }, name),
      h('td', { class: 'mono' }, f.n === undefined ? '—' : formatNumber(f.n)),
      h('td', { class: 'mono' }, measured(f.top1, f.n)),
      h('td', { class: 'mono' }, measured(f.top3, f.n)),
      // Precision over the photos answered « identifié »: none, nothing measured.
      h('td', { class: 'mono' }, measured(f.identifiedPrecision, f.identifiedCoverage)),
      h('td', { class: 'mono' }, measured(f.identifiedCoverage, f.n)),
      h('td', { class: 'mono' }, measured(f.falseRejectRate, f.n)),
    );
  return tableOf(
    'Résultats du modèle sur le banc d’essai, en tout et par domaine',
    [
      'Domaine',
      'Photos',
      'Top-1',
      'Top-3',
      'Précision « identifié »',
      'Part « identifié »',
      'Faux rejets',
    ],
    [
      row('Ensemble', metrics, 'all'),
      ...Object.entries(metrics.byDomain ?? {})
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([d, f]) => row(domainName(d), f, d)),
    ],
  );
}

/** The paired test, whole benchmark and per domain. */
function promotionTestTable(promotion: Promotion): HTMLElement {
  const row = (name: string, t: PairedTest, domain: string) =>
    h(
      'tr',
      { 'data-domain': domain },
      h('th', { scope: 'row' }, name),
      h('td', { class: 'mono' }, formatNumber(t.n)),
      h('td', { class: 'mono' }, measured(t.candidateTop1, t.n)),
      h('td', { class: 'mono' }, measured(t.activeTop1, t.n)),
      h('td', { class: 'mono' }, formatNumber(t.candidateOnly)),
      h('td', { class: 'mono' }, formatNumber(t.activeOnly)),
      h('td', { class: 'mono' }, formatP(t.pBetter)),
      h('td', { class: 'mono' }, formatP(t.pWorse)),
    );
  return tableOf(
    'Test apparié du candidat contre le modèle actif sur les mêmes photos',
    [
      'Domaine',
      'Photos',
      'Top-1 nouveau modèle',
      'Top-1 ancien modèle',
      'Reconnues par le nouveau seulement',
      'Reconnues par l’ancien seulement',
      'p (meilleur)',
      'p (moins bon)',
    ],
    [
      ...(promotion.test ? [row('Ensemble', promotion.test, 'all')] : []),
      ...Object.entries(promotion.byDomain ?? {})
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([d, t]) => row(domainName(d), t, d)),
    ],
  );
}

const total = (counts?: Record<string, number>): number =>
  Object.values(counts ?? {}).reduce((a, b) => a + b, 0);

function renderStartButton(): void {
  const running = runs.find((r) => isActive(r.data));
  startButton.disabled = Boolean(running);
  startButton.title = running ? 'Un entraînement est déjà en cours.' : '';
  const stuck = runs.find(
    (r) => (r.data.status === 'queued' || r.data.status === 'running') && !isActive(r.data),
  );
  byId('start-hint').textContent = running
    ? 'Un entraînement est en cours : attendez sa fin pour en lancer un autre.'
    : stuck
      ? 'Le dernier entraînement ne donne plus signe de vie : vous pouvez en relancer un.'
      : 'Entraîne un nouveau modèle candidat sur les photos du jeu de données hors banc d’essai. Un seul entraînement à la fois.';
}

function renderFollowedRun(): void {
  const entry = runs.find((r) => r.id === followedRunId) ?? runs[0];
  const box = byId('run');
  if (!entry) {
    box.hidden = true;
    return;
  }
  const run = entry.data;
  box.hidden = false;
  box.dataset.runId = entry.id;
  box.dataset.status = run.status ?? '';
  byId('run-heading').textContent =
    `Entraînement du ${formatDate(run.createdAt)} — ${STATUSES[run.status ?? ''] ?? run.status ?? '?'}`;
  byId('run-phase').textContent = `Étape : ${phaseText(run)}`;
  const done = run.progress?.done ?? 0;
  const all = run.progress?.total ?? 0;
  const progress = byId<HTMLProgressElement>('run-progress');
  const ratio = run.status === 'succeeded' ? 1 : all ? done / all : 0;
  progress.value = Math.round(ratio * 100);
  byId('run-progress-text').textContent = all ? `${done} / ${all}` : formatPercent(ratio);
  const last = run.curve?.[run.curve.length - 1];
  byId('run-kpis').replaceChildren(
    h('li', {}, 'Images', h('strong', {}, formatNumber(total(run.datasetCounts)))),
    h(
      'li',
      {},
      'Dont banc d’essai',
      h('strong', {}, run.benchmarkSize === undefined ? '—' : formatNumber(run.benchmarkSize)),
    ),
    h('li', {}, 'Époque', h('strong', {}, last ? String(last.epoch) : '—')),
    h('li', {}, 'Perte', h('strong', {}, last ? last.loss.toFixed(3).replace('.', ',') : '—')),
    h('li', {}, 'Exactitude', h('strong', {}, last ? formatPercent(last.accuracy) : '—')),
    h('li', {}, 'Durée', h('strong', {}, duration(run))),
    h('li', {}, 'Modèle', h('strong', {}, run.modelVersion ?? '—')),
  );
  const error = byId('run-error');
  error.hidden = !run.error;
  error.textContent = run.error ? `Échec de l’entraînement : ${run.error}` : '';
  const decision = byId('run-promotion');
  decision.hidden = !run.promotion?.rule;
  decision.dataset.tone = run.promotion?.promote ? 'success' : 'info';
  decision.dataset.rule = run.promotion?.rule ?? '';
  decision.textContent = run.promotion?.rule ? promotionSentence(run.promotion) : '';
  const curve = run.curve ?? [];
  drawChart(byId<HTMLCanvasElement>('curve-chart'), {
    type: 'line',
    data: {
      labels: curve.map((p) => String(p.epoch)),
      datasets: [
        {
          label: 'Perte',
          data: curve.map((p) => p.loss),
          borderColor: COLOURS.err,
          backgroundColor: COLOURS.err,
          yAxisID: 'loss',
          pointRadius: 0,
        },
        {
          label: 'Exactitude',
          data: curve.map((p) => p.accuracy),
          borderColor: COLOURS.accent,
          backgroundColor: COLOURS.accent,
          yAxisID: 'accuracy',
          pointRadius: 0,
        },
      ],
    },
    options: {
      scales: {
        x: { title: { display: true, text: 'Époque' } },
        loss: { type: 'linear', position: 'left', title: { display: true, text: 'Perte' } },
        accuracy: {
          type: 'linear',
          position: 'right',
          min: 0,
          max: 1,
          title: { display: true, text: 'Exactitude' },
          grid: { drawOnChartArea: false },
        },
      },
    },
  });
}

function renderRuns(): void {
  const rows = byId('run-rows');
  if (!runs.length) {
    rows.replaceChildren(
      h('tr', {}, h('td', { colspan: 7 }, 'Aucun entraînement pour l’instant.')),
    );
    return;
  }
  rows.replaceChildren(
    ...runs.map(({ id, data }) => {
      const follow = h(
        'button',
        {
          type: 'button',
          class: 'small',
          'aria-label': `Afficher l’entraînement du ${formatDate(data.createdAt)}`,
        },
        'Afficher',
      );
      follow.addEventListener('click', () => {
        followedRunId = id;
        renderFollowedRun();
        renderRuns();
        byId('run-title').scrollIntoView({ behavior: 'smooth' });
      });
      return h(
        'tr',
        { 'data-run-id': id, class: id === (followedRunId ?? runs[0]?.id) ? 'selected' : null },
        h('td', { class: 'mono' }, formatDate(data.createdAt)),
        h(
          'td',
          { class: 'outcome' },
          h(
            'span',
            { class: `badge badge-${data.status ?? ''}` },
            STATUSES[data.status ?? ''] ?? '?',
          ),
        ),
        h('td', {}, data.error ? `${phaseText(data)} — ${data.error}` : phaseText(data)),
        h(
          'td',
          { class: 'mono' },
          formatNumber(total(data.datasetCounts)),
          data.erasedImages
            ? ` (dont ${formatNumber(data.erasedImages)} effacée${data.erasedImages > 1 ? 's' : ''} depuis)`
            : '',
        ),
        h('td', { class: 'mono' }, duration(data)),
        h('td', { class: 'mono' }, data.modelVersion ?? '—'),
        h('td', {}, follow),
      );
    }),
  );
  labelCells(byId<HTMLTableElement>('runs'));
}

async function promote(version: string, button: HTMLButtonElement): Promise<void> {
  if (!confirm(`Rendre le modèle ${version} actif pour toutes les identifications ?`)) return;
  await withBusy(button, 'Promotion…', async () => {
    try {
      const res = await call<unknown, { active: string }>('promoteModel', { version });
      say(status, `Modèle ${res.active} promu : il sert désormais les identifications.`, 'success');
    } catch (err) {
      say(status, `Promotion impossible : ${frenchError(err)}`, 'error');
    }
  });
}

function renderModels(): void {
  const rows = byId('model-rows');
  const activeVersion = active.version;
  byId('active-model').textContent = activeVersion
    ? `Modèle actif : ${activeVersion}${active.history?.length ? ` (précédent : ${active.history[active.history.length - 1]})` : ''}`
    : 'Aucun modèle actif : promouvez un modèle pour activer les identifications.';
  rollbackButton.disabled = !active.history?.length;
  if (!models.length) {
    rows.replaceChildren(h('tr', {}, h('td', { colspan: 9 }, 'Aucun modèle enregistré.')));
    return;
  }
  rows.replaceChildren(
    ...models.map(({ id, data }) => {
      const version = data.version ?? id;
      const isActiveModel = version === activeVersion;
      const m = data.metrics ?? {};
      const details = h(
        'button',
        { type: 'button', class: 'small', 'aria-label': `Détails du modèle ${version}` },
        'Détails',
      );
      details.addEventListener('click', () => {
        detailsVersion = version;
        renderDetails();
        byId('model-details').scrollIntoView({ behavior: 'smooth' });
      });
      const actions = h('td', { class: 'actions' }, details);
      if (!isActiveModel) {
        const promoteButton = h(
          'button',
          {
            type: 'button',
            class: 'small primary',
            'aria-label': `Promouvoir le modèle ${version}`,
          },
          'Promouvoir',
        );
        promoteButton.addEventListener('click', () => void promote(version, promoteButton));
        actions.append(promoteButton);
      }
      const statusKey = isActiveModel
        ? 'active'
        : data.status === 'active'
          ? 'candidate'
          : (data.status ?? 'candidate');
      return h(
        'tr',
        { 'data-version': version, class: version === detailsVersion ? 'selected' : null },
        h('th', { scope: 'row', class: 'mono' }, version),
        h('td', { class: 'mono' }, formatDate(data.createdAt)),
        h('td', { class: 'mono' }, measured(m.top1, m.n)),
        h('td', { class: 'mono' }, measured(m.top3, m.n)),
        h('td', { class: 'mono' }, measured(m.macroF1, m.n)),
        h('td', { class: 'mono' }, m.n === undefined ? '—' : formatNumber(m.n)),
        h(
          'td',
          {
            class: 'promotion',
            'data-rule': data.promotion?.rule ?? '',
            title: data.promotion?.rule ? promotionSentence(data.promotion) : null,
          },
          promotionVerdict(data.promotion),
        ),
        h(
          'td',
          { class: 'outcome' },
          h(
            'span',
            { class: `badge badge-${statusKey}` },
            isActiveModel ? '★ actif' : (MODEL_STATUSES[statusKey] ?? statusKey),
          ),
        ),
        actions,
      );
    }),
  );
  labelCells(byId<HTMLTableElement>('models'));
  if (detailsVersion) renderDetails();
}

/** Confusion matrix as an accessible table with row-normalised coloured cells. */
function confusionTable(confusion: {
  labels?: string[];
  rows?: Record<string, number[]>;
}): HTMLElement {
  const labels = confusion.labels ?? [];
  const name = (id: string): string => speciesName(species, id);
  const body = labels.map((truth) => {
    const row = confusion.rows?.[truth] ?? [];
    const sum = row.reduce((a, b) => a + b, 0);
    return h(
      'tr',
      {},
      h('th', { scope: 'row' }, name(truth)),
      ...labels.map((predicted, j) => {
        const n = row[j] ?? 0;
        const share = sum ? n / sum : 0;
        const diagonal = predicted === truth;
        const rgb = diagonal ? '31, 111, 92' : '164, 38, 44';
        const cell = h(
          'td',
          {
            title: `${name(truth)} prédit ${name(predicted)} : ${n} (${formatPercent(share)})`,
            class: 'mono',
          },
          String(n),
        );
        cell.style.background = n ? `rgba(${rgb}, ${(0.12 + share * 0.88).toFixed(2)})` : '#f6f1ea';
        cell.style.color = share > 0.5 ? '#fff' : '#2b2118';
        return cell;
      }),
    );
  });
  return h(
    'table',
    { class: 'matrix' },
    h(
      'caption',
      { class: 'visually-hidden' },
      'Matrice de confusion : lignes espèce réelle, colonnes espèce prédite',
    ),
    h(
      'thead',
      {},
      h('tr', {}, h('td', {}), ...labels.map((l) => h('th', { scope: 'col' }, name(l)))),
    ),
    h('tbody', {}, ...body),
  );
}

function renderDetails(): void {
  const entry = models.find((m) => (m.data.version ?? m.id) === detailsVersion);
  const section = byId('model-details');
  if (!entry) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  const m = entry.data.metrics ?? {};
  byId('details-title').textContent =
    `Détails du modèle ${detailsVersion ?? ''} — top-1 ${formatPercent(m.top1)}, top-3 ${formatPercent(m.top3)}, F1 macro ${formatPercent(m.macroF1)}`;
  byId('domain-figures').replaceChildren(
    m.n === undefined
      ? h('p', { class: 'hint' }, 'Pas de résultats sur le banc d’essai pour ce modèle.')
      : domainFiguresTable(m),
  );
  const promotion = entry.data.promotion;
  const reason = byId('promotion-reason');
  reason.dataset.rule = promotion?.rule ?? '';
  reason.textContent = promotion?.rule
    ? promotionSentence(promotion)
    : 'Pas de décision automatique enregistrée pour ce modèle (entraîné avant le banc d’essai figé, ou importé).';
  byId('promotion-stats').hidden = !promotion?.test;
  byId('promotion-trainer-reason').textContent = promotion?.reasonFr ?? '';
  byId('promotion-test').replaceChildren(
    ...(promotion?.test ? [promotionTestTable(promotion)] : []),
  );
  const matrix = byId('matrix');
  if (m.confusion?.labels?.length) matrix.replaceChildren(confusionTable(m.confusion));
  else
    matrix.replaceChildren(
      h('p', { class: 'hint' }, 'Pas de matrice de confusion pour ce modèle.'),
    );
  const recall = Object.entries(m.perSpeciesRecall ?? {}).sort(([a], [b]) =>
    speciesName(species, a).localeCompare(speciesName(species, b), 'fr'),
  );
  const canvas = byId<HTMLCanvasElement>('recall-chart');
  canvas.setAttribute(
    'aria-label',
    `Rappel par espèce : ${recall.map(([id, r]) => `${speciesName(species, id)} ${formatPercent(r)}`).join(', ')}.`,
  );
  drawChart(canvas, {
    type: 'bar',
    data: {
      labels: recall.map(([id]) => speciesName(species, id)),
      datasets: [
        {
          label: 'Rappel',
          data: recall.map(([, r]) => r),
          backgroundColor: recall.map(([, r]) =>
            r < 0.5 ? COLOURS.err : r < 0.8 ? COLOURS.warn : COLOURS.accent,
          ),
        },
      ],
    },
    options: {
      indexAxis: 'y',
      plugins: { legend: { display: false } },
      scales: { x: { min: 0, max: 1, ticks: { callback: (v) => formatPercent(Number(v)) } } },
    },
  });
}

/** The new-photos count changes when a run ends: refreshed then, not on every progress write. */
let finishedRuns: string | undefined;
function refreshBacklog(): void {
  const key = runs
    .filter((r) => r.data.status === 'succeeded')
    .map((r) => r.id)
    .join();
  if (key === finishedRuns) return;
  finishedRuns = key;
  renderBacklog(byId('backlog')).catch((err: unknown) =>
    sayError(byId('backlog'), err, 'Nouvelles photos inconnues : '),
  );
}

/** The run whose « Entraînement lancé » notice is on screen: it goes once the run ends. */
let launchNotice: string | undefined;
function clearLaunchNotice(): void {
  const run = runs.find((r) => r.id === launchNotice)?.data;
  if (run && (run.status === 'succeeded' || run.status === 'failed')) {
    launchNotice = undefined;
    say(status, '');
  }
}

function subscribe(): void {
  const onError = (what: string) => (err: unknown) => sayError(status, err, `${what} : `);
  onSnapshot(
    query(collection(fb.db, 'trainingRuns'), orderBy('createdAt', 'desc'), limit(20)),
    (snap) => {
      runs = snap.docs.map((d) => ({ id: d.id, data: d.data() as RunDoc }));
      renderStartButton();
      renderFollowedRun();
      renderRuns();
      refreshBacklog();
      clearLaunchNotice();
    },
    onError('Suivi des entraînements interrompu'),
  );
  onSnapshot(
    query(collection(fb.db, 'models'), orderBy('createdAt', 'desc'), limit(20)),
    (snap) => {
      models = snap.docs.map((d) => ({ id: d.id, data: d.data() as ModelDoc }));
      renderModels();
    },
    onError('Liste des modèles indisponible'),
  );
  onSnapshot(
    doc(fb.db, 'config', 'activeModel'),
    (snap) => {
      active = (snap.data() as ActiveModel | undefined) ?? {};
      renderModels();
    },
    onError('Modèle actif inconnu'),
  );
}

async function main(): Promise<void> {
  ({ fb } = await requireAdmin());
  species = await loadSpecies().catch((err: unknown) => {
    sayError(status, err, 'Catalogue des espèces indisponible : ');
    return [];
  });
  subscribe();
  startButton.addEventListener('click', () => {
    void withBusy(startButton, 'Démarrage…', async () => {
      try {
        const { runId } = await call<unknown, { runId: string }>('startTrainingRun', {});
        followedRunId = runId;
        launchNotice = runId;
        say(status, 'Entraînement lancé : son avancement s’affiche ci-dessous.', 'success');
      } catch (err) {
        say(status, `Lancement impossible : ${frenchError(err)}`, 'error');
      }
    }).then(renderStartButton);
  });
  rollbackButton.addEventListener('click', () => {
    const previous = active.history?.[active.history.length - 1];
    if (!confirm(`Revenir au modèle précédent (${previous ?? '?'}) ?`)) return;
    void withBusy(rollbackButton, 'Retour…', async () => {
      try {
        const res = await call<unknown, { active: string }>('rollbackModel', {});
        say(status, `Retour effectué : le modèle ${res.active} est de nouveau actif.`, 'success');
      } catch (err) {
        say(status, `Retour impossible : ${frenchError(err)}`, 'error');
      }
    }).then(renderModels);
  });
  // Durations of running runs tick.
  setInterval(() => {
    if (runs.some((r) => isActive(r.data))) renderFollowedRun();
  }, 5000);
}

main().catch((err: unknown) => sayError(status, err, 'Page indisponible : '));
