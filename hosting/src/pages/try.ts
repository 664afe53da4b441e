/**
 * Public "try it" page: signs in anonymously (the identification API requires a user), sends the
 * photo to the `identifyFootprint` callable the mobile app uses, shows the top-3 and the fact
 * sheet, then the dialogue (../try-dialogue.ts): framing, questions, more photos, candidates.
 */
import { signInAnonymously } from 'firebase/auth';
import { frenchError } from '../errors.js';
import { call, firebase } from '../firebase.js';
import { photoPayload, photoTypeProblem } from '../photo-upload.js';
import { setupOfflineMode } from '../offline.js';
import { loadSpecies, speciesName, trackRows, type SpeciesSheet } from '../species.js';
import { chosenPlace, createDialogue, type DialogueResult } from '../try-dialogue.js';
import { byId, currentUser, formatPercent, h, renderHeader, renderSession, say } from '../ui.js';

type IdentifyResult = DialogueResult;

const { session } = renderHeader();
const input = byId<HTMLInputElement>('photo');
const preview = byId<HTMLImageElement>('preview');
const button = byId<HTMLButtonElement>('identify');
const status = byId('try-status');
const offline = setupOfflineMode(byId('offline-mode'));
let species: SpeciesSheet[] = [];
const dialogue = createDialogue({ onResult: showResult, species: () => species });

function factSheet(sheet: SpeciesSheet): HTMLElement {
  const rows: [string, string | undefined][] = [
    ['Nom latin', sheet.latinName],
    ['Famille', sheet.family],
    ['Taille', sheet.size],
    ['Répartition', sheet.region],
    ['Habitat', sheet.habitat],
    ['Empreinte', sheet.track?.description],
    ...trackRows(sheet),
    ['Le saviez-vous ?', sheet.funFact],
  ];
  const image = sheet.exampleImage?.path ?? `/species/${sheet.speciesId}.svg`;
  return h(
    'article',
    { class: 'fact-sheet', 'aria-labelledby': 'sheet-title' },
    h('img', {
      src: image,
      alt: sheet.exampleImage?.alt ?? `Dessin de l’empreinte : ${sheet.nameFr}`,
      width: 160,
      height: 160,
    }),
    h(
      'div',
      {},
      h('h3', { id: 'sheet-title' }, sheet.nameFr),
      sheet.description ? h('p', {}, sheet.description) : null,
      h(
        'dl',
        {},
        ...rows
          .filter((r): r is [string, string] => Boolean(r[1]))
          .flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
      ),
    ),
  );
}

/** Shows a server answer, or the page's own (offline mode: no observation is stored). */
function showResult(
  result: Pick<IdentifyResult, 'verdict' | 'top' | 'species' | 'hint' | 'model'>,
): void {
  const section = byId('result');
  section.hidden = false;
  section.dataset.verdict = result.verdict;
  const first = result.top[0];
  byId('verdict').textContent =
    result.verdict === 'identified'
      ? `Empreinte identifiée : ${result.species?.nameFr ?? speciesName(species, first?.speciesId)}`
      : result.verdict === 'uncertain'
        ? 'Identification incertaine : voici les espèces les plus probables.'
        : 'Cette photo ne ressemble pas à une empreinte.';
  const hint = byId('hint');
  hint.hidden = !result.hint;
  hint.textContent = result.hint ?? '';
  byId('top').replaceChildren(
    ...result.top.slice(0, 3).map((t) => {
      const name = speciesName(species, t.speciesId);
      return h(
        'li',
        { 'data-species': t.speciesId },
        h('span', {}, name),
        h('meter', { min: 0, max: 1, value: t.probability, 'aria-label': `Probabilité : ${name}` }),
        h('span', { class: 'mono' }, formatPercent(t.probability)),
      );
    }),
  );
  const sheet =
    result.species ??
    (result.verdict !== 'not_a_footprint'
      ? species.find((s) => s.speciesId === first?.speciesId)
      : undefined);
  byId('sheet').replaceChildren(sheet ? factSheet(sheet) : '');
  byId('model-version').textContent = result.model?.version
    ? `Modèle utilisé : ${result.model.version}`
    : '';
  section.focus();
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
      showResult(await offline.identify(file));
      say(status, 'Analyse terminée, sur cet appareil (hors ligne).', 'success');
      return;
    }
    const fb = await firebase();
    if (!fb.auth.currentUser) {
      say(status, 'Connexion anonyme…');
      await signInAnonymously(fb.auth);
    }
    const location = await chosenPlace();
    say(status, 'Analyse de la photo…');
    const photo = await photoPayload(file);
    const result = await call<Record<string, unknown>, IdentifyResult>(
      'identifyFootprint',
      { photo, ...(location ? { location } : {}) },
      90_000,
    );
    showResult(result);
    dialogue.show(result);
    say(status, 'Analyse terminée.', 'success');
  } catch (err) {
    byId('result').hidden = true;
    dialogue.reset();
    say(status, `Identification impossible : ${frenchError(err)}`, 'error');
  } finally {
    button.disabled = !input.files?.length;
  }
}

async function main(): Promise<void> {
  // Listeners first: a photo chosen while Firebase is still starting must not be missed.
  byId('result').tabIndex = -1;
  const onPhotoChosen = (): void => {
    const file = input.files?.[0];
    button.disabled = !file;
    byId('result').hidden = true;
    dialogue.reset();
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
  if (input.files?.length) onPhotoChosen();
  const fb = await firebase();
  renderSession(session, fb, await currentUser(fb));
  species = await loadSpecies().catch((err: unknown) => {
    say(status, `Catalogue des espèces indisponible : ${frenchError(err)}`, 'warning');
    return [];
  });
}

main().catch((err: unknown) => say(status, `Page indisponible : ${frenchError(err)}`, 'error'));
