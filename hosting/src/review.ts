/**
 * « À vérifier »: the review queue of the dataset page. Observations hikers shared for
 * training are shown one at a time (photo, the model's top-3, the user's correction, the
 * verdict); the admin accepts with a label or rejects with a reason, mostly from the keyboard,
 * and the next one is on screen at once while the decision is sent. Filters: the proposed
 * species, or disagreements (correction ≠ the model's top-1). Counts come from the server.
 */
import {
  collection,
  doc,
  getCountFromServer,
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

export function startReviewQueue(
  fb: Firebase,
  species: SpeciesSheet[],
): { refresh(): Promise<void> } {
  const candidates = collection(fb.db, 'reviewCandidates');
  const status = byId('review-status');
  const filter = byId<HTMLSelectElement>('review-filter');
  const card = byId('review-card');
  const empty = byId('review-empty');
  const labelSelect = byId<HTMLSelectElement>('review-label');
  const reason = byId<HTMLInputElement>('review-reason');
  const log = byId('review-log');
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

  labelSelect.append(...speciesOptions(species));

  function filterConstraints(): QueryConstraint[] {
    const value = filter.value;
    if (value === 'disagreement') return [where('disagreement', '==', true)];
    if (value.startsWith('species:'))
      return [where('proposedSpeciesId', '==', value.slice('species:'.length))];
    return [];
  }

  async function count(...constraints: QueryConstraint[]): Promise<number> {
    return (await getCountFromServer(query(candidates, ...constraints))).data().count;
  }

  async function renderCounts(): Promise<void> {
    const pending = where('status', '==', 'pending');
    const [waiting, disagreements, accepted, rejected, ...perSpecies] = await Promise.all([
      count(pending),
      count(pending, where('disagreement', '==', true)),
      count(where('status', '==', 'accepted')),
      count(where('status', '==', 'rejected')),
      ...species.map((s) => count(pending, where('proposedSpeciesId', '==', s.speciesId))),
    ]);
    const counts = byId('review-counts');
    counts.dataset.pending = String(waiting);
    counts.replaceChildren(
      h('li', {}, 'À vérifier', h('strong', { id: 'review-pending' }, formatNumber(waiting))),
      h('li', {}, 'Désaccords', h('strong', {}, formatNumber(disagreements ?? 0))),
      h('li', {}, 'Acceptées', h('strong', {}, formatNumber(accepted ?? 0))),
      h('li', {}, 'Refusées', h('strong', {}, formatNumber(rejected ?? 0))),
      h(
        'li',
        {},
        'Cette session',
        h(
          'strong',
          { id: 'review-session' },
          `${formatNumber(session.accepted)} acceptée(s), ${formatNumber(session.rejected)} refusée(s)`,
        ),
      ),
    );
    const selected = filter.value;
    filter.replaceChildren(
      h('option', { value: 'all' }, `Toutes les photos à vérifier (${formatNumber(waiting)})`),
      h(
        'option',
        { value: 'disagreement' },
        `Désaccords : correction ≠ 1re proposition du modèle (${formatNumber(disagreements ?? 0)})`,
      ),
      ...species.map((s, i) =>
        h(
          'option',
          { value: `species:${s.speciesId}` },
          `Proposées comme ${s.nameFr} (${formatNumber(perSpecies[i] ?? 0)})`,
        ),
      ),
    );
    filter.value = selected || 'all';
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
      return;
    }
    const c = entry.data() as CandidateDoc;
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
    labelSelect.value = c.proposedSpeciesId ?? c.top?.[0]?.speciesId ?? labelSelect.value;
    reason.value = '';
  }

  /** Shows the outcome of a decision in the session log, live until the photo is ingested. */
  function logDecision(id: string, text: string, accepted: boolean): void {
    const outcome = h('span', { class: 'outcome' }, accepted ? INGESTION.pending : '');
    const item = h('li', { 'data-candidate-id': id }, text, ' ', outcome);
    log.prepend(item);
    while (log.children.length > 20) log.lastElementChild?.remove();
    if (!accepted) return;
    const stop = onSnapshot(doc(candidates, id), (snap) => {
      const ingestion = (snap.data() as CandidateDoc | undefined)?.ingestion;
      const state = snap.exists() ? (ingestion?.status ?? 'pending') : 'withdrawn';
      item.dataset.ingestion = state;
      outcome.textContent =
        state === 'withdrawn'
          ? 'retirée par son auteur entre-temps'
          : `${INGESTION[state] ?? state}${ingestion?.reason ? ` : ${ingestion.reason}` : ''}`;
      if (state !== 'pending') stop();
    });
  }

  async function decide(decision: { accept: string } | { reject: string }): Promise<void> {
    const entry = current();
    if (!entry) return;
    const id = entry.id;
    const c = entry.data() as CandidateDoc;
    decided.add(id);
    queue.splice(position, 1);
    if (position >= queue.length - 5 && !exhausted) await loadMore();
    render();
    try {
      if ('accept' in decision) {
        await call('acceptReviewCandidate', { candidateId: id, speciesId: decision.accept });
        session.accepted++;
        logDecision(id, `Acceptée comme ${name(decision.accept)} :`, true);
        say(status, `Photo acceptée comme ${name(decision.accept)}.`, 'success');
      } else {
        await call('rejectReviewCandidate', { candidateId: id, reason: decision.reject });
        session.rejected++;
        logDecision(id, `Refusée (${decision.reject})`, false);
        say(status, `Photo refusée : ${decision.reject}`, 'success');
      }
    } catch (err) {
      // Back in the queue, where it was, unless the user withdrew it meanwhile.
      decided.delete(id);
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
    void renderCounts().catch(() => undefined);
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
        status,
        'Indiquez la raison du refus, ou utilisez une raison rapide (F, N, I, P).',
        'warning',
      );
      reason.focus();
      return;
    }
    void decide({ reject: text });
  }

  byId('review-accept').addEventListener('click', () => void decide({ accept: labelSelect.value }));
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
    button.addEventListener('click', () => void decide({ reject: text }));
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
      void decide({ accept: labelSelect.value });
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
    if (!current() || card.hidden) return;
    const top = (current()?.data() as CandidateDoc | undefined)?.top ?? [];
    let handled = true;
    if (key === 'enter' || key === 'a') void decide({ accept: labelSelect.value });
    else if (['1', '2', '3'].includes(key) && top[Number(key) - 1])
      void decide({ accept: top[Number(key) - 1]?.speciesId ?? '' });
    else if (Object.hasOwn(QUICK_REJECTIONS, key))
      void decide({ reject: QUICK_REJECTIONS[key] ?? '' });
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
    await Promise.all([renderCounts(), loadMore()]);
    if (asked !== generation) return;
    render();
    // Which filter the queue on screen answers (the tests wait for it).
    byId('review').dataset.filter = filter.value;
  }

  return { refresh };
}
