/**
 * Public "try it" page, as the app would run: signs in anonymously (the identification API
 * requires a user) unless someone is signed in, sends the photo to `identifyFootprint`, shows
 * what is known (../try-result.ts), then the dialogue (../try-dialogue.ts), the hiker's
 * correction and consent (setObservationFeedback, setObservationShare), an expert's decision
 * on a shared photo, and the user's last observations (listObservations, getObservation).
 * Admins can also try any model of the registry before its promotion (tryModel: nothing stored).
 */
import { signInAnonymously } from 'firebase/auth';
import { collection, doc, getDoc, getDocs, limit, orderBy, query } from 'firebase/firestore';
import { frenchError } from '../errors.js';
import { call, firebase, type Firebase } from '../firebase.js';
import { photoPayload, photoTypeProblem } from '../photo-upload.js';
import { setupOfflineMode } from '../offline.js';
import { loadSpecies, speciesName, speciesOptions, type SpeciesSheet } from '../species.js';
import { chosenPlace, createDialogue, type DialogueResult } from '../try-dialogue.js';
import { renderResult, type ExpertView, type ShownResult } from '../try-result.js';
import {
  byId,
  currentUser,
  formatDate,
  formatPercent,
  h,
  isAdmin,
  renderHeader,
  renderSession,
  say,
} from '../ui.js';

/** What identifyFootprint, getObservation and the dialogue callables answer (parts shown). */
type ObservationResult = DialogueResult & {
  expert?: ExpertView | null;
  feedback?: { correctedSpeciesId: string } | null;
  shareForTraining?: boolean;
};

interface ObservationSummary {
  observationId: string;
  verdict: ShownResult['verdict'];
  speciesId: string | null;
  probability: number | null;
  thumbnailUrl: string | null;
  createdAt: string;
  expert: ExpertView | null;
}

const HISTORY_SIZE = 10;
const { session } = renderHeader();
const input = byId<HTMLInputElement>('photo');
const preview = byId<HTMLImageElement>('preview');
const button = byId<HTMLButtonElement>('identify');
const status = byId('try-status');
const modelSelect = byId<HTMLSelectElement>('model');
const offline = setupOfflineMode(byId('offline-mode'));
let species: SpeciesSheet[] = [];
/** The observation shown (null: none, or a result that is not stored). */
let shown: ObservationResult | null = null;
// The dialogue shows its own part of a refined result; the page shows the rest.
const dialogue = createDialogue({
  onResult: (r) => showObservation(r, false),
  species: () => species,
});

/** A stored observation: result, dialogue (unless it shows itself), the hiker's actions. */
function showObservation(result: ObservationResult, withDialogue = true): void {
  shown = result;
  renderResult(result, species);
  if (withDialogue) dialogue.show(result);
  const actions = byId('observation-actions');
  actions.hidden = false;
  const correction = byId<HTMLSelectElement>('correction');
  const current = result.feedback?.correctedSpeciesId ?? '';
  correction.replaceChildren(
    h('option', { value: '', selected: current === '' }, 'Aucune correction'),
    ...speciesOptions(species, current),
  );
  byId<HTMLInputElement>('share-result').checked = result.shareForTraining === true;
  say(byId('actions-status'), '');
}

/** A result nothing was stored for (offline, or a model tried by an admin). */
function showUnstored(result: ShownResult): void {
  shown = null;
  dialogue.reset();
  byId('observation-actions').hidden = true;
  renderResult(result, species);
}

async function ensureUser(fb: Firebase): Promise<void> {
  if (fb.auth.currentUser) return;
  say(status, 'Connexion anonyme…');
  await signInAnonymously(fb.auth);
}

async function identify(): Promise<void> {
  const file = input.files?.[0];
  if (!file) {
    say(status, 'Choisissez d’abord une photo.', 'error');
    return;
  }
  const problem = photoTypeProblem(file);
  if (problem) {
    say(status, problem, 'error');
    return;
  }
  button.disabled = true;
  try {
    if (offline.active) {
      say(status, 'Analyse de la photo sur cet appareil…');
      showUnstored(await offline.identify(file));
      say(status, 'Analyse terminée, sur cet appareil (hors ligne).', 'success');
      return;
    }
    const fb = await firebase();
    await ensureUser(fb);
    const location = await chosenPlace();
    say(status, 'Analyse de la photo…');
    const photo = await photoPayload(file);
    const tried = modelSelect.value;
    if (tried) {
      const result = await call<Record<string, unknown>, ShownResult>(
        'tryModel',
        { version: tried, photo, ...(location ? { location } : {}) },
        120_000,
      );
      showUnstored(result);
      say(status, `Essai du modèle ${tried} terminé : rien n’a été enregistré.`, 'success');
      return;
    }
    const result = await call<Record<string, unknown>, ObservationResult>(
      'identifyFootprint',
      {
        photo,
        ...(location ? { location } : {}),
        shareForTraining: byId<HTMLInputElement>('share').checked,
      },
      90_000,
    );
    showObservation(result);
    say(status, 'Analyse terminée.', 'success');
    void loadHistory(fb);
  } catch (err) {
    byId('result').hidden = true;
    dialogue.reset();
    say(status, `Identification impossible : ${frenchError(err)}`, 'error');
  } finally {
    button.disabled = !input.files?.length;
  }
}

/** Runs a change of the shown observation (correction, consent) and shows its new state. */
async function changeObservation(
  name: 'setObservationFeedback' | 'setObservationShare',
  data: Record<string, unknown>,
  done: string,
): Promise<void> {
  if (!shown) return;
  const target = byId('actions-status');
  say(target, 'Enregistrement…');
  try {
    const result = await call<Record<string, unknown>, ObservationResult>(name, {
      observationId: shown.observationId,
      ...data,
    });
    showObservation(result);
    say(target, done, 'success');
    void firebase().then(loadHistory);
  } catch (err) {
    say(target, `Enregistrement impossible : ${frenchError(err)}`, 'error');
    if (shown) byId<HTMLInputElement>('share-result').checked = shown.shareForTraining === true;
  }
}

function summaryText(item: ObservationSummary): string {
  const name = speciesName(species, item.speciesId ?? undefined);
  const result =
    item.verdict === 'identified'
      ? `Identifiée : ${name}`
      : item.verdict === 'not_a_footprint'
        ? 'Aucune empreinte reconnue'
        : `Piste : ${name} (${formatPercent(item.probability)})`;
  return `${formatDate(new Date(item.createdAt))} — ${result}`;
}

/** The signed-in user's last observations (anonymous or not), newest first. */
async function loadHistory(fb: Firebase): Promise<void> {
  const section = byId('history');
  if (!fb.auth.currentUser) {
    section.hidden = true;
    return;
  }
  const target = byId('history-status');
  try {
    const { items } = await call<{ pageSize: number }, { items: ObservationSummary[] }>(
      'listObservations',
      { pageSize: HISTORY_SIZE },
    );
    section.hidden = false;
    byId('history-empty').hidden = items.length > 0;
    byId('history-list').replaceChildren(
      ...items.map((item) => {
        const open = h(
          'button',
          { type: 'button', class: 'link-button' },
          item.thumbnailUrl
            ? h('img', { src: item.thumbnailUrl, alt: '', width: 56, height: 56 })
            : null,
          h('span', {}, summaryText(item)),
        );
        open.addEventListener('click', () => void openObservation(item.observationId));
        return h(
          'li',
          { 'data-observation-id': item.observationId, 'data-verdict': item.verdict },
          open,
          item.expert
            ? h('p', { class: 'expert', 'data-outcome': item.expert.outcome }, item.expert.label)
            : null,
        );
      }),
    );
    say(target, '');
  } catch (err) {
    say(target, `Historique indisponible : ${frenchError(err)}`, 'error');
  }
}

async function openObservation(observationId: string): Promise<void> {
  say(status, 'Chargement de l’observation…');
  try {
    const result = await call<{ observationId: string }, ObservationResult>('getObservation', {
      observationId,
    });
    showObservation(result);
    say(status, '');
    byId('result').focus();
  } catch (err) {
    say(status, `Observation indisponible : ${frenchError(err)}`, 'error');
  }
}

/** Admins choose the model: the active one (stored as an observation) or any other (tried). */
async function offerModels(fb: Firebase): Promise<void> {
  const user = fb.auth.currentUser;
  if (!user || !(await isAdmin(user).catch(() => false))) return;
  const [pointer, registry] = await Promise.all([
    getDoc(doc(fb.db, 'config', 'activeModel')),
    getDocs(query(collection(fb.db, 'models'), orderBy('createdAt', 'desc'), limit(20))),
  ]);
  const active = pointer.get('version') as string | undefined;
  const others = registry.docs.filter((d) => d.id !== active && d.get('exported') !== false);
  modelSelect.replaceChildren(
    h('option', { value: '' }, active ? `Modèle actif (${active})` : 'Modèle actif'),
    ...others.map((d) =>
      h(
        'option',
        { value: d.id },
        `${d.id} — non actif, essai sans enregistrement${d.get('status') ? ` (${String(d.get('status'))})` : ''}`,
      ),
    ),
  );
  byId('model-choice').hidden = false;
}

async function main(): Promise<void> {
  // Listeners first: a photo chosen while Firebase is still starting must not be missed.
  byId('result').tabIndex = -1;
  const onPhotoChosen = (): void => {
    const file = input.files?.[0];
    button.disabled = !file;
    byId('result').hidden = true;
    dialogue.reset();
    shown = null;
    say(status, '');
    if (file) {
      if (preview.src) URL.revokeObjectURL(preview.src);
      preview.src = URL.createObjectURL(file);
      preview.hidden = false;
    }
  };
  input.addEventListener('change', onPhotoChosen);
  byId<HTMLFormElement>('try-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void identify();
  });
  byId<HTMLFormElement>('correction-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = byId<HTMLSelectElement>('correction').value;
    void changeObservation(
      'setObservationFeedback',
      { correctedSpeciesId: value || null },
      value ? `Correction enregistrée : ${speciesName(species, value)}.` : 'Correction retirée.',
    );
  });
  byId<HTMLInputElement>('share-result').addEventListener('change', (event) => {
    const share = (event.target as HTMLInputElement).checked;
    void changeObservation(
      'setObservationShare',
      { shareForTraining: share },
      share
        ? 'Photo partagée : un expert la vérifiera.'
        : 'Partage retiré : la photo ne servira pas à l’entraînement.',
    );
  });
  if (input.files?.length) onPhotoChosen();
  const fb = await firebase();
  const user = await currentUser(fb);
  renderSession(session, fb, user);
  species = await loadSpecies().catch((err: unknown) => {
    say(status, `Catalogue des espèces indisponible : ${frenchError(err)}`, 'warning');
    return [];
  });
  await Promise.all([
    loadHistory(fb),
    offerModels(fb).catch((err: unknown) =>
      say(status, `Liste des modèles indisponible : ${frenchError(err)}`, 'warning'),
    ),
  ]);
}

main().catch((err: unknown) => say(status, `Page indisponible : ${frenchError(err)}`, 'error'));
