/**
 * « À vérifier »: the review queue of the dataset page. Observations hikers shared for
 * training are shown one at a time (photo with zoom, the reference track drawings of the
 * proposed species and of the model's candidates, the model's top-3, the user's correction, the
 * verdict); the admin accepts with a label or rejects with a reason, mostly from the keyboard,
 * and the next one is on screen at once while the decision is sent. The last decision can be
 * undone (`undoReviewDecision`). The preselected label can be turned off (« sans
 * présélection »), and each decision records whether it was on. Filters: the proposed species,
 * or disagreements (correction ≠ the model's top-1). Counts come from `getDatasetStats` and
 * follow each decision on the page.
 */
import {
  collection,
  doc,
  getDocs,
  limit,
  onSnapshot,
  orderBy,
  query,
  startAfter,
  where,
  type QueryConstraint,
  type QueryDocumentSnapshot,
} from 'firebase/firestore';
import { frenchError } from './errors.js';
import { call, type Firebase } from './firebase.js';
import { speciesName, speciesOptions, type SpeciesSheet } from './species.js';
import { byId, formatDate, formatNumber, formatPercent, h, say } from './ui.js';

/** The review part of `getDatasetStats` (functions/src/handlers/admin/dataset-stats.ts). */
export interface ReviewCounts {
  pending: number;
  disagreements: number;
  accepted: number;
  rejected: number;
  pendingBySpecies: Record<string, number>;
}

/** Where the « sans présélection » choice is kept between visits. */
const PRESELECTION_KEY = 'wildlens.review.preselection';

interface CandidateDoc {
  ownerUid?: string;
  observationId?: string;
  status?: 'pending' | 'accepted' | 'rejected';
  photoUrl?: string | null;
  verdict?: string | null;
  top?: { speciesId: string; probability: number }[];
  predictedSpeciesId?: string | null;
  correctedSpeciesId?: string | null;
  proposedSpeciesId?: string | null;
  disagreement?: boolean;
  modelVersion?: string | null;
  sharedAt?: unknown;
  ingestion?: { status?: string; reason?: string };
}

/** Rejection reasons one key away (the reason field takes any other). */
export const QUICK_REJECTIONS: Record<string, string> = {
  f: 'Photo floue, sombre ou inexploitable.',
  n: 'Pas une empreinte.',
  i: 'Empreinte ambiguë : espèce impossible à établir.',
  p: 'Contenu privé ou sans rapport (personne, visage, document).',
};

const VERDICTS: Record<string, string> = {
  identified: 'identifiée',
  uncertain: 'incertaine',
  not_a_footprint: 'pas une empreinte',
};

const INGESTION: Record<string, string> = {
  pending: 'ajout au jeu de données en cours…',
  accepted: 'ajoutée au jeu de données',
  duplicate: 'déjà présente dans le jeu de données',
  conflict: 'déjà présente sous une autre espèce',
  rejected: 'refusée par la vérification de l’image',
};

const PAGE = 50;

export interface ReviewQueue {
  /** Reloads the queue for the current filter. */
  refresh(): Promise<void>;
  /** Shows the server's counts (the page then keeps them in step with each decision). */
  setCounts(counts: ReviewCounts): void;
}

export function startReviewQueue(fb: Firebase, species: SpeciesSheet[]): ReviewQueue {
  const candidates = collection(fb.db, 'reviewCandidates');
  /** Outcomes of the decisions sent (they arrive in the background, in their order). */
  const status = byId('review-status');
  /**
   * What the photo on screen still needs before a decision (a species, a reason). Apart from
   * the status line: a decision finishing in the background must not wipe it off.
   */
  const prompt = byId('review-prompt');
  const filter = byId<HTMLSelectElement>('review-filter');
  const card = byId('review-card');
  const empty = byId('review-empty');
  const labelSelect = byId<HTMLSelectElement>('review-label');
  const reason = byId<HTMLInputElement>('review-reason');
  const log = byId('review-log');
  const undoButton = byId<HTMLButtonElement>('review-undo');
  const preselectBox = byId<HTMLInputElement>('review-preselect');
  const photoBox = byId('review-photo-box');
  const name = (id: string | null | undefined): string => speciesName(species, id ?? undefined);

  let queue: QueryDocumentSnapshot[] = [];
  /** Bumped by every refresh: a page loaded for an older filter is dropped. */
  let generation = 0;
  let position = 0;
  let last: QueryDocumentSnapshot | undefined;
  let exhausted = false;
  /** Candidates decided in this session (kept out of the queue while their call runs). */
  const decided = new Set<string>();
  const session = { accepted: 0, rejected: 0 };
  let counts: ReviewCounts | undefined;
  /** The session's last decision that the server recorded: what « Annuler » reverts. */
  let lastDecision:
    { entry: QueryDocumentSnapshot; accepted: boolean; item: HTMLElement } | undefined;
  /**
   * Decisions are sent one after the other, in the order they were taken (the next photo is on
   * screen at once all the same): the server's latest decision is then the admin's last one,
   * which is what an undo reverts. An undo waits for the chain.
   */
  let sending: Promise<void> = Promise.resolve();

  const choose = h('option', { value: '' }, '— Choisir l’espèce —');
  labelSelect.append(choose, ...speciesOptions(species));
  preselectBox.checked = localStorage.getItem(PRESELECTION_KEY) !== 'off';
  const preselecting = (): boolean => preselectBox.checked;

  function filterConstraints(): QueryConstraint[] {
    const value = filter.value;
    if (value === 'disagreement') return [where('disagreement', '==', true)];
    if (value.startsWith('species:'))
      return [where('proposedSpeciesId', '==', value.slice('species:'.length))];
    return [];
  }

  function renderCounts(): void {
    if (!counts) return;
    const c = counts;
    const list = byId('review-counts');
    list.dataset.pending = String(c.pending);
    list.replaceChildren(
      h('li', {}, 'À vérifier', h('strong', { id: 'review-pending' }, formatNumber(c.pending))),
      h('li', {}, 'Désaccords', h('strong', {}, formatNumber(c.disagreements))),
      h('li', {}, 'Acceptées', h('strong', { id: 'review-accepted' }, formatNumber(c.accepted))),
      h('li', {}, 'Refusées', h('strong', { id: 'review-rejected' }, formatNumber(c.rejected))),
      h(
        'li',
        {},
        'Cette session',
        h(
          'strong',
          { id: 'review-session' },
          `${formatNumber(session.accepted)} acceptée${session.accepted > 1 ? 's' : ''}, ${formatNumber(session.rejected)} refusée${session.rejected > 1 ? 's' : ''}`,
        ),
      ),
    );
    const selected = filter.value;
    filter.replaceChildren(
      h('option', { value: 'all' }, `Toutes les photos à vérifier (${formatNumber(c.pending)})`),
      h(
        'option',
        { value: 'disagreement' },
        `Désaccords : correction ≠ 1re proposition du modèle (${formatNumber(c.disagreements)})`,
      ),
      ...species.map((s) =>
        h(
          'option',
          { value: `species:${s.speciesId}` },
          `Proposées comme ${s.nameFr} (${formatNumber(c.pendingBySpecies[s.speciesId] ?? 0)})`,
        ),
      ),
    );
    filter.value = selected || 'all';
  }

  /** Moves one candidate between the counters: `sign` 1 for a decision, -1 for its undo. */
  function countDecision(c: CandidateDoc, accepted: boolean, sign: 1 | -1): void {
    if (!counts) return;
    counts.pending -= sign;
    if (c.disagreement) counts.disagreements -= sign;
    if (accepted) counts.accepted += sign;
    else counts.rejected += sign;
    if (c.proposedSpeciesId)
      counts.pendingBySpecies[c.proposedSpeciesId] =
        (counts.pendingBySpecies[c.proposedSpeciesId] ?? 0) - sign;
    renderCounts();
  }

  async function loadMore(): Promise<void> {
    if (exhausted) return;
    const asked = generation;
    const snap = await getDocs(
      query(
        candidates,
        where('status', '==', 'pending'),
        ...filterConstraints(),
        orderBy('sharedAt'),
        ...(last ? [startAfter(last)] : []),
        limit(PAGE),
      ),
    );
    if (asked !== generation) return;
    last = snap.docs[snap.docs.length - 1] ?? last;
    exhausted = snap.docs.length < PAGE;
    queue.push(...snap.docs.filter((d) => !decided.has(d.id)));
  }

  function current(): QueryDocumentSnapshot | undefined {
    return queue[position];
  }

  function render(): void {
    const entry = current();
    card.hidden = !entry;
    empty.hidden = Boolean(entry);
    if (!entry) {
      card.removeAttribute('data-candidate-id');
      say(prompt, '');
      return;
    }
    const c = entry.data() as CandidateDoc;
    // A prompt is about one photo: another photo on screen drops it.
    if (card.dataset.candidateId !== entry.id) say(prompt, '');
    card.dataset.candidateId = entry.id;
    byId('review-position').textContent =
      `Photo ${position + 1} sur ${queue.length}${exhausted ? '' : '+'}`;
    const photo = byId<HTMLImageElement>('review-photo');
    photo.src = c.photoUrl ?? '';
    photo.alt = `Photo partagée, proposée comme ${name(c.proposedSpeciesId)}`;
    byId('review-verdict').textContent =
      `${VERDICTS[c.verdict ?? ''] ?? c.verdict ?? '—'} (modèle ${c.modelVersion ?? '?'}, partagée le ${formatDate(c.sharedAt)})`;
    byId('review-top').replaceChildren(
      ...(c.top ?? [])
        .slice(0, 3)
        .map((t, i) =>
          h(
            'li',
            { 'data-species': t.speciesId },
            h('kbd', {}, String(i + 1)),
            ` ${name(t.speciesId)} — ${formatPercent(t.probability)}`,
          ),
        ),
    );
    byId('review-correction').textContent = c.correctedSpeciesId
      ? `${name(c.correctedSpeciesId)}${c.disagreement ? ' (désaccord avec le modèle)' : ' (confirme le modèle)'}`
      : 'aucune';
    labelSelect.value = preselecting() ? (c.proposedSpeciesId ?? c.top?.[0]?.speciesId ?? '') : '';
    reason.value = '';
    setZoom(false);
    renderReferences(c);
  }

  /** The reference track drawings: the proposed species, the model's candidates, the choice. */
  function renderReferences(c: CandidateDoc): void {
    const ids = [
      c.proposedSpeciesId,
      ...(c.top ?? []).slice(0, 3).map((t) => t.speciesId),
      labelSelect.value,
    ].filter((id, i, all): id is string => Boolean(id) && all.indexOf(id) === i);
    byId('review-references').replaceChildren(
      ...ids.map((id) => {
        const sheet = species.find((s) => s.speciesId === id);
        const roles = [
          id === c.proposedSpeciesId ? 'proposée' : '',
          (c.top ?? []).some((t) => t.speciesId === id) ? 'candidate du modèle' : '',
          id === labelSelect.value ? 'retenue' : '',
        ].filter(Boolean);
        return h(
          'figure',
          { class: 'reference', 'data-species': id },
          h('img', {
            src: sheet?.exampleImage?.path ?? `/species/${id}.svg`,
            alt: sheet?.exampleImage?.alt ?? `Dessin de référence de l’empreinte : ${name(id)}`,
            width: 120,
            height: 120,
            loading: 'lazy',
          }),
          h('figcaption', {}, h('strong', {}, name(id)), h('span', {}, roles.join(', '))),
        );
      }),
    );
  }

  function setZoom(zoomed: boolean): void {
    photoBox.toggleAttribute('data-zoomed', zoomed);
    byId('review-zoom').setAttribute('aria-pressed', String(zoomed));
    byId('review-zoom').replaceChildren(
      zoomed ? 'Vue d’ensemble' : 'Agrandir la photo',
      ' (',
      h('kbd', {}, 'Z'),
      ')',
    );
  }

  /** Shows the outcome of a decision in the session log, live until the photo is ingested. */
  function logDecision(id: string, text: string, accepted: boolean): HTMLElement {
    const outcome = h('span', { class: 'outcome' }, accepted ? INGESTION.pending : '');
    const item = h('li', { 'data-candidate-id': id }, text, ' ', outcome);
    log.prepend(item);
    while (log.children.length > 20) log.lastElementChild?.remove();
    if (!accepted) return item;
    const stop = onSnapshot(doc(candidates, id), (snap) => {
      const data = snap.data() as CandidateDoc | undefined;
      if (snap.exists() && data?.status !== 'accepted') {
        // The local cache may still hold the candidate as it was queued (pending): only the
        // server says it was undone (the photo is back in the queue).
        if (!snap.metadata.fromCache) stop();
        return;
      }
      const ingestion = data?.ingestion;
      const state = snap.exists() ? (ingestion?.status ?? 'pending') : 'withdrawn';
      item.dataset.ingestion = state;
      outcome.textContent =
        state === 'withdrawn'
          ? 'retirée par son auteur entre-temps'
          : `${INGESTION[state] ?? state}${ingestion?.reason ? ` : ${ingestion.reason}` : ''}`;
      if (state !== 'pending') stop();
    });
    return item;
  }

  function decide(decision: { accept: string } | { reject: string }): void {
    const entry = current();
    if (!entry) return;
    if ('accept' in decision && !decision.accept) {
      say(prompt, 'Choisissez l’espèce retenue (E), ou refusez la photo.', 'warning');
      labelSelect.focus();
      return;
    }
    const c = entry.data() as CandidateDoc;
    const preselection = preselecting();
    decided.add(entry.id);
    queue.splice(position, 1);
    // The counters move with the photo; a refused call moves them back.
    countDecision(c, 'accept' in decision, 1);
    render();
    if (position >= queue.length - 5 && !exhausted) void loadMore().then(render);
    sending = sending.then(() => send(entry, decision, preselection));
  }

  async function send(
    entry: QueryDocumentSnapshot,
    decision: { accept: string } | { reject: string },
    preselection: boolean,
  ): Promise<void> {
    const id = entry.id;
    const c = entry.data() as CandidateDoc;
    const accepted = 'accept' in decision;
    try {
      if ('accept' in decision) {
        await call('acceptReviewCandidate', {
          candidateId: id,
          speciesId: decision.accept,
          preselection,
        });
        session.accepted++;
        const item = logDecision(id, `Acceptée comme ${name(decision.accept)} :`, true);
        lastDecision = { entry, accepted, item };
        say(status, `Photo acceptée comme ${name(decision.accept)}.`, 'success');
      } else {
        await call('rejectReviewCandidate', {
          candidateId: id,
          reason: decision.reject,
          preselection,
        });
        session.rejected++;
        // « Refusée : Pas une empreinte. » (the reason ends its own sentence).
        const item = logDecision(id, `Refusée : ${decision.reject}`, false);
        lastDecision = { entry, accepted, item };
        say(status, `Photo refusée : ${decision.reject}`, 'success');
      }
      renderCounts();
      undoButton.disabled = false;
    } catch (err) {
      // Back in the queue, where it was, unless the user withdrew it meanwhile.
      decided.delete(id);
      countDecision(c, accepted, -1);
      if (!/introuvable/.test(frenchError(err))) {
        queue.splice(position, 0, entry);
        render();
      }
      say(
        status,
        `Décision non enregistrée (${name(c.proposedSpeciesId)}) : ${frenchError(err)}`,
        'error',
      );
    }
  }

  /** Puts the session's last decision back in the queue, on screen (one step only). */
  async function undo(): Promise<void> {
    await sending;
    const last = lastDecision;
    if (!last) {
      say(status, 'Aucune décision à annuler dans cette session.', 'warning');
      return;
    }
    lastDecision = undefined;
    undoButton.disabled = true;
    try {
      const result = await call<unknown, { trainingImagesRemoved: number }>('undoReviewDecision', {
        candidateId: last.entry.id,
      });
      decided.delete(last.entry.id);
      if (last.accepted) session.accepted--;
      else session.rejected--;
      countDecision(last.entry.data() as CandidateDoc, last.accepted, -1);
      last.item.dataset.undone = 'true';
      last.item.replaceChildren(
        h('s', {}, last.item.textContent ?? ''),
        ' — décision annulée, photo remise à vérifier',
      );
      queue.splice(position, 0, last.entry);
      render();
      card.focus();
      say(
        status,
        result.trainingImagesRemoved
          ? 'Décision annulée : la photo, déjà ajoutée au jeu de données, en a été retirée ; elle est de nouveau à vérifier.'
          : 'Décision annulée : la photo est de nouveau à vérifier.',
        'success',
      );
    } catch (err) {
      say(status, `Annulation impossible : ${frenchError(err)}`, 'error');
    }
  }

  function move(step: number): void {
    if (!queue.length) return;
    position = Math.min(Math.max(position + step, 0), queue.length - 1);
    if (position >= queue.length - 5 && !exhausted) {
      void loadMore().then(render);
    }
    render();
  }

  function rejectWithTypedReason(): void {
    const text = reason.value.trim();
    if (!text) {
      say(
        prompt,
        'Indiquez la raison du refus, ou utilisez une raison rapide (F, N, I, P).',
        'warning',
      );
      reason.focus();
      return;
    }
    decide({ reject: text });
  }

  byId('review-accept').addEventListener('click', () => decide({ accept: labelSelect.value }));
  undoButton.addEventListener('click', () => void undo());
  byId('review-zoom').addEventListener('click', () =>
    setZoom(!photoBox.hasAttribute('data-zoomed')),
  );
  preselectBox.addEventListener('change', () => {
    localStorage.setItem(PRESELECTION_KEY, preselecting() ? 'on' : 'off');
    render();
  });
  labelSelect.addEventListener('change', () => {
    const entry = current();
    if (entry) renderReferences(entry.data() as CandidateDoc);
  });
  byId('review-reject').addEventListener('click', rejectWithTypedReason);
  byId('review-next').addEventListener('click', () => move(1));
  byId('review-previous').addEventListener('click', () => move(-1));
  for (const [key, text] of Object.entries(QUICK_REJECTIONS)) {
    const button = h(
      'button',
      { type: 'button', class: 'small' },
      h('kbd', {}, key.toUpperCase()),
      ` ${text}`,
    );
    button.addEventListener('click', () => decide({ reject: text }));
    byId('review-quick').append(h('li', {}, button));
  }
  reason.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      rejectWithTypedReason();
    } else if (event.key === 'Escape') {
      reason.blur();
    }
  });
  labelSelect.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      labelSelect.blur();
      decide({ accept: labelSelect.value });
    }
  });
  // The keys act on the new queue at once, without first leaving the list.
  filter.addEventListener('change', () => void refresh().then(() => card.focus()));

  // Shortcuts act on the page or the review section while no field has the focus (the reason
  // field and the species list handle their own Enter; a focused button keeps Enter and Space).
  const section = byId('review');
  document.addEventListener('keydown', (event) => {
    const target = event.target as HTMLElement | null;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target && target !== document.body && !section.contains(target)) return;
    if (target && ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName)) return;
    const key = event.key.toLowerCase();
    if (
      (key === 'enter' || key === ' ') &&
      target &&
      ['BUTTON', 'A', 'SUMMARY'].includes(target.tagName)
    )
      return;
    if (key === 'u') {
      event.preventDefault();
      void undo();
      return;
    }
    if (!current() || card.hidden) return;
    const top = (current()?.data() as CandidateDoc | undefined)?.top ?? [];
    let handled = true;
    if (key === 'enter' || key === 'a') decide({ accept: labelSelect.value });
    else if (['1', '2', '3'].includes(key) && top[Number(key) - 1])
      decide({ accept: top[Number(key) - 1]?.speciesId ?? '' });
    else if (Object.hasOwn(QUICK_REJECTIONS, key)) decide({ reject: QUICK_REJECTIONS[key] ?? '' });
    else if (key === 'z') setZoom(!photoBox.hasAttribute('data-zoomed'));
    else if (key === 'r') reason.focus();
    else if (key === 'e') labelSelect.focus();
    else if (key === 'arrowright' || key === 'j') move(1);
    else if (key === 'arrowleft' || key === 'k') move(-1);
    else handled = false;
    if (handled) event.preventDefault();
  });

  async function refresh(): Promise<void> {
    generation++;
    queue = [];
    position = 0;
    last = undefined;
    exhausted = false;
    const asked = generation;
    await loadMore();
    if (asked !== generation) return;
    render();
    // Which filter the queue on screen answers (the tests wait for it).
    byId('review').dataset.filter = filter.value;
  }

  return {
    refresh,
    setCounts(next: ReviewCounts): void {
      counts = { ...next, pendingBySpecies: { ...next.pendingBySpecies } };
      renderCounts();
    },
  };
}
