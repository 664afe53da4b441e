/**
 * Public "try it" page: signs in anonymously (the identification API requires a user), sends the
 * photo to the `identifyFootprint` callable the mobile app uses, shows the top-3 and the fact sheet.
 */
import { signInAnonymously } from 'firebase/auth';
import { frenchError } from '../errors.js';
import { call, firebase } from '../firebase.js';
import { setupOfflineMode } from '../offline.js';
import { loadSpecies, speciesName, trackRows, type SpeciesSheet } from '../species.js';
import { byId, currentUser, formatPercent, h, renderHeader, renderSession, say } from '../ui.js';

interface IdentifyResult {
  observationId: string;
  verdict: 'identified' | 'uncertain' | 'not_a_footprint';
  top: { speciesId: string; probability: number }[];
  species: SpeciesSheet | null;
  hint?: string | null;
  model?: { version?: string };
}

const ACCEPTED = ['image/jpeg', 'image/png', 'image/webp'];
/** Larger photos are re-encoded client-side (the callable payload is limited). */
const REENCODE_ABOVE_BYTES = 4 * 1024 * 1024;
const MAX_SIDE = 1600;

const { session } = renderHeader();
const input = byId<HTMLInputElement>('photo');
const preview = byId<HTMLImageElement>('preview');
const button = byId<HTMLButtonElement>('identify');
const status = byId('try-status');
const offline = setupOfflineMode(byId('offline-mode'));
let species: SpeciesSheet[] = [];

function toBase64(buffer: ArrayBuffer): string {
  const bytes = new Uint8Array(buffer);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

async function reencode(file: File): Promise<Blob> {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext('2d')?.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return new Promise((resolve, reject) =>
    canvas.toBlob(
      (blob) => (blob ? resolve(blob) : reject(new Error('Impossible de réduire la photo.'))),
      'image/jpeg',
      0.9,
    ),
  );
}

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
function showResult(result: Omit<IdentifyResult, 'observationId'>): void {
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
  if (!ACCEPTED.includes(file.type)) {
    say(
      status,
      `Format non pris en charge (${file.type || 'inconnu'}) : JPEG, PNG ou WebP attendu.`,
      'error',
    );
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
    say(status, 'Analyse de la photo…');
    const blob = file.size > REENCODE_ABOVE_BYTES ? await reencode(file) : file;
    const photo = toBase64(await blob.arrayBuffer());
    const result = await call<{ photo: string }, IdentifyResult>(
      'identifyFootprint',
      { photo },
      90_000,
    );
    showResult(result);
    say(status, 'Analyse terminée.', 'success');
  } catch (err) {
    byId('result').hidden = true;
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
