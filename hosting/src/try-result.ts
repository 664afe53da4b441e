/**
 * The try page's result panel (issue 23): it says exactly what is known.
 * - `identified`: the species and its fact sheet;
 * - `uncertain`: « pistes » with their probabilities, each sheet one tap away (<details>), and
 *   the API's hint (strength of the lead, candidate set, why a high probability is not called
 *   identified, what would help);
 * - `not_a_footprint`: advice only, no species.
 * The top 3 stay in the DOM (hidden unless they are pistes): what the page received.
 * An expert's decision on a shared photo is shown above everything else.
 */
import { resultHeadlineFr, resultHintFr } from '@wildlens/shared';
import { speciesName, trackRows, type SpeciesSheet } from './species.js';
import { byId, formatDate, formatPercent, h } from './ui.js';

export interface ExpertView {
  speciesId: string | null;
  speciesNameFr: string | null;
  outcome: 'confirmed' | 'corrected' | 'rejected';
  reviewedAt: string;
  label: string;
}

/** What the panel shows: identifyFootprint, getObservation, tryModel and the offline mode. */
export interface ShownResult {
  verdict: 'identified' | 'uncertain' | 'not_a_footprint';
  top: { speciesId: string; probability: number }[];
  species?: SpeciesSheet | null;
  /** The API's hint; absent or null from the offline mode (computed here then). */
  hint?: string | null;
  candidates?: { speciesIds: string[]; coverage: number | null };
  model?: { version?: string } | null;
  expert?: ExpertView | null;
}

export function factSheet(sheet: SpeciesSheet, titleId: string): HTMLElement {
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
    { class: 'fact-sheet', 'aria-labelledby': titleId },
    h('img', {
      src: image,
      alt: sheet.exampleImage?.alt ?? `Dessin de l’empreinte : ${sheet.nameFr}`,
      width: 160,
      height: 160,
    }),
    h(
      'div',
      {},
      h('h3', { id: titleId }, sheet.nameFr),
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

/** The hint of an offline result: the same wording, without what only the server knows. */
function localHint(result: ShownResult, species: SpeciesSheet[]): string | null {
  const best = result.top[0];
  return resultHintFr({
    verdict: result.verdict,
    best: best
      ? { nameFr: speciesName(species, best.speciesId), probability: best.probability }
      : null,
    candidates: null,
    identifiedThreshold: null,
    domain: null,
    framed: false,
    questionAsked: false,
    quality: null,
  });
}

export function renderExpert(target: HTMLElement, expert: ExpertView | null | undefined): void {
  target.hidden = !expert;
  target.dataset.outcome = expert?.outcome ?? '';
  target.textContent = expert
    ? `${expert.label}${expert.reviewedAt ? ` (le ${formatDate(new Date(expert.reviewedAt))})` : ''}.`
    : '';
}

/** Fills #result (#verdict, #expert, #hint, #pistes/#top, #sheet, #model-version). */
export function renderResult(result: ShownResult, species: SpeciesSheet[]): void {
  const section = byId('result');
  section.hidden = false;
  section.dataset.verdict = result.verdict;
  const first = result.top[0];
  const sheetOf = (id: string | undefined) =>
    id === undefined ? undefined : species.find((s) => s.speciesId === id);
  const bestName = result.species?.nameFr ?? speciesName(species, first?.speciesId);
  byId('verdict').textContent = resultHeadlineFr(
    result.verdict,
    first ? { nameFr: bestName, probability: first.probability } : null,
  );
  renderExpert(byId('expert'), result.expert);
  const hint =
    result.hint === undefined || result.hint === null ? localHint(result, species) : result.hint;
  const hintTarget = byId('hint');
  hintTarget.hidden = !hint;
  hintTarget.textContent = hint ?? '';
  hintTarget.dataset.tone = result.verdict === 'not_a_footprint' ? 'warning' : 'info';

  const uncertain = result.verdict === 'uncertain';
  byId('pistes').hidden = !uncertain;
  byId('top').replaceChildren(
    ...result.top.slice(0, 3).map((t, i) => {
      const name = speciesName(species, t.speciesId);
      const sheet = sheetOf(t.speciesId);
      return h(
        'li',
        { 'data-species': t.speciesId },
        h(
          'div',
          { class: 'piste' },
          h('span', {}, name),
          h('meter', {
            min: 0,
            max: 1,
            value: t.probability,
            'aria-label': `Probabilité : ${name}`,
          }),
          h('span', { class: 'mono' }, formatPercent(t.probability)),
        ),
        uncertain && sheet
          ? h(
              'details',
              { class: 'piste-sheet' },
              h('summary', {}, `Fiche : ${name}`),
              factSheet(sheet, `piste-sheet-${i}`),
            )
          : null,
      );
    }),
  );
  const sheet =
    result.verdict === 'identified' ? (result.species ?? sheetOf(first?.speciesId)) : undefined;
  byId('sheet').replaceChildren(sheet ? factSheet(sheet, 'sheet-title') : '');
  byId('model-version').textContent = result.model?.version
    ? `Modèle utilisé : ${result.model.version}`
    : '';
}
