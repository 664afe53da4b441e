/**
 * The "try it" page's dialogue (issue 19), as the app would run it after an identification:
 * frame the print on the stored photo (drag a rectangle: refineObservation with a region),
 * answer the next question (refineObservation with answers; an answer can be withdrawn), add a
 * photo of the same trail (addObservationPhoto), and read the candidates (« l'une de ces 3
 * espèces, 9 fois sur 10 ») and the note on species not expected where the photo was taken.
 */
import { frenchError } from './errors.js';
import { call } from './firebase.js';
import { photoPayload, photoTypeProblem } from './photo-upload.js';
import { speciesName, type SpeciesSheet } from './species.js';
import { byId, h, say } from './ui.js';

export interface PhotoRegion {
  x: number;
  y: number;
  width: number;
  height: number;
}

interface ChoiceOption {
  id: string;
  label: string;
}

type Question =
  | { id: string; kind: 'choice'; text: string; help?: string; options: ChoiceOption[] }
  | {
      id: string;
      kind: 'number';
      text: string;
      help?: string;
      unit: string;
      min: number;
      max: number;
      step: number;
    };

/** What identifyFootprint, refineObservation and addObservationPhoto answer (the parts shown). */
export interface DialogueResult {
  observationId: string;
  verdict: 'identified' | 'uncertain' | 'not_a_footprint';
  top: { speciesId: string; probability: number }[];
  species: SpeciesSheet | null;
  hint?: string | null;
  model?: { version?: string } | null;
  candidates: { speciesIds: string[]; coverage: number | null };
  nextQuestion: Question | null;
  unexpectedSpecies: { speciesId: string; nameFr: string; note: string }[];
  answers: Record<string, string | number>;
  photos: { index: number; photoUrl: string; thumbnailUrl: string; region: PhotoRegion | null }[];
  zone: { id: string; label: string } | null;
}

/** Places a visitor can say the photo was taken at (the range prior needs a place). */
const PLACES: Record<string, { lat: number; lng: number }> = {
  alpes: { lat: 45.19, lng: 5.72 },
  rocheuses: { lat: 39.74, lng: -104.99 },
};

/** The place chosen in the form (#place), the device's position, or none. */
export async function chosenPlace(): Promise<{ lat: number; lng: number } | null> {
  const choice = byId<HTMLSelectElement>('place').value;
  if (choice === 'appareil') {
    const position = await new Promise<GeolocationPosition>((resolve, reject) =>
      navigator.geolocation.getCurrentPosition(resolve, reject, { timeout: 10_000 }),
    ).catch(() => {
      throw new Error('Position de l’appareil indisponible : choisissez un lieu dans la liste.');
    });
    return { lat: position.coords.latitude, lng: position.coords.longitude };
  }
  return PLACES[choice] ?? null;
}

/** A frame smaller than this share of the photo is refused by the API. */
const MIN_FRACTION = 0.02;
const clamp = (v: number) => Math.min(1, Math.max(0, v));
const ANSWER_LABELS: Record<string, string> = {
  unknown: 'je ne sais pas',
};

export interface Dialogue {
  show(result: DialogueResult): void;
  reset(): void;
}

/**
 * Wires the dialogue's section (#dialogue). `onResult` shows a new result in the page's main
 * result panel (verdict, top 3, fact sheet); `species` gives the catalogue's names.
 */
export function createDialogue(options: {
  onResult: (result: DialogueResult) => void;
  species: () => SpeciesSheet[];
}): Dialogue {
  const section = byId('dialogue');
  const status = byId('dialogue-status');
  const stage = byId('frame-stage');
  const image = byId<HTMLImageElement>('frame-photo');
  const box = byId('frame-box');
  const apply = byId<HTMLButtonElement>('frame-apply');
  const clear = byId<HTMLButtonElement>('frame-clear');
  const extra = byId<HTMLInputElement>('extra-photo');
  const addButton = byId<HTMLButtonElement>('add-photo');
  let current: DialogueResult | null = null;
  let photoIndex = 0;
  /** The rectangle being drawn or drawn and not yet sent. */
  let drawn: PhotoRegion | null = null;

  function showBox(region: PhotoRegion | null, pending: boolean): void {
    box.hidden = !region;
    box.dataset.state = pending ? 'pending' : 'stored';
    if (!region) return;
    Object.assign(box.style, {
      left: `${region.x * 100}%`,
      top: `${region.y * 100}%`,
      width: `${region.width * 100}%`,
      height: `${region.height * 100}%`,
    });
  }

  async function refine(data: Record<string, unknown>, busy: string): Promise<void> {
    if (!current) return;
    say(status, busy);
    section.setAttribute('aria-busy', 'true');
    try {
      const result = await call<Record<string, unknown>, DialogueResult>(
        'refineObservation',
        { observationId: current.observationId, ...data },
        90_000,
      );
      options.onResult(result);
      show(result);
      say(status, 'Résultat mis à jour.', 'success');
    } catch (err) {
      say(status, `Mise à jour impossible : ${frenchError(err)}`, 'error');
    } finally {
      section.removeAttribute('aria-busy');
    }
  }

  function choosePhoto(index: number): void {
    const photo = current?.photos[index];
    if (!photo) return;
    photoIndex = index;
    drawn = null;
    apply.disabled = true;
    image.src = photo.photoUrl;
    showBox(photo.region, false);
    clear.disabled = !photo.region;
    for (const thumb of byId('photo-strip').querySelectorAll('button')) {
      thumb.setAttribute('aria-pressed', String(Number(thumb.dataset.index) === index));
    }
  }

  function renderPhotos(result: DialogueResult): void {
    byId('photo-strip').replaceChildren(
      ...result.photos.map((photo) => {
        const button = h(
          'button',
          {
            type: 'button',
            class: 'photo-thumb',
            'data-index': photo.index,
            'aria-label': `Photo ${photo.index + 1}${photo.region ? ' (empreinte encadrée)' : ''}`,
          },
          h('img', { src: photo.thumbnailUrl, alt: '', width: 72, height: 72 }),
        );
        button.addEventListener('click', () => choosePhoto(photo.index));
        return button;
      }),
    );
    addButton.disabled = !extra.files?.length || result.photos.length >= 5;
  }

  function renderCandidates(result: DialogueResult): void {
    const names = result.candidates.speciesIds.map((id) => speciesName(options.species(), id));
    const { coverage } = result.candidates;
    const times = coverage === null ? null : Math.round(coverage * 10);
    byId('candidates').textContent =
      times === null
        ? `Espèces possibles : ${names.join(', ')}.`
        : names.length === 1
          ? `Très probablement : ${names[0]} (${times} fois sur 10).`
          : `L’une de ces ${names.length} espèces, ${times} fois sur 10 : ${names.join(', ')}.`;
    byId('unexpected').replaceChildren(
      ...result.unexpectedSpecies.map((u) => h('li', { 'data-species': u.speciesId }, u.note)),
    );
    byId('zone').textContent = result.zone
      ? `Lieu de la photo : ${result.zone.label} (les espèces qui n’y vivent pas sont moins probables).`
      : 'Lieu de la photo non précisé : la répartition des espèces n’est pas prise en compte.';
  }

  function questionForm(question: Question): HTMLElement {
    const body: Node[] = [h('p', { class: 'phase', id: 'question-text' }, question.text)];
    if (question.help) body.push(h('p', { class: 'hint' }, question.help));
    const answer = (value: string | number) =>
      void refine({ answers: { [question.id]: value } }, 'Prise en compte de la réponse…');
    if (question.kind === 'choice') {
      const buttons = question.options.map((option) => {
        const button = h('button', { type: 'button', 'data-answer': option.id }, option.label);
        button.addEventListener('click', () => answer(option.id));
        return button;
      });
      body.push(h('div', { class: 'actions', role: 'group' }, ...buttons));
    } else {
      const input = h('input', {
        id: 'answer-number',
        type: 'number',
        min: question.min,
        max: question.max,
        step: question.step,
        inputmode: 'decimal',
      });
      const form = h(
        'form',
        { class: 'actions' },
        h('label', { for: 'answer-number' }, `Valeur (${question.unit})`),
        input,
        h('button', { type: 'submit', class: 'primary' }, 'Valider'),
      );
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        const value = input.valueAsNumber;
        if (!Number.isFinite(value) || value < question.min || value > question.max) {
          say(
            status,
            `Indiquez un nombre de ${question.min} à ${question.max} ${question.unit}.`,
            'error',
          );
          return;
        }
        answer(value);
      });
      const unknown = h('button', { type: 'button', 'data-answer': 'unknown' }, 'Je ne sais pas');
      unknown.addEventListener('click', () => answer('unknown'));
      body.push(form, h('div', { class: 'actions' }, unknown));
    }
    return h('div', { 'data-question': question.id }, ...body);
  }

  function renderQuestion(result: DialogueResult): void {
    const target = byId('question');
    target.replaceChildren(
      result.nextQuestion
        ? questionForm(result.nextQuestion)
        : h(
            'p',
            { class: 'hint' },
            result.verdict === 'identified'
              ? 'Identification sûre : aucune question de plus.'
              : 'Plus aucune question ne changerait beaucoup le résultat.',
          ),
    );
  }

  function renderAnswers(result: DialogueResult): void {
    const entries = Object.entries(result.answers);
    byId('answers').replaceChildren(
      ...entries.map(([id, value]) => {
        const withdraw = h('button', { type: 'button', class: 'small' }, 'Retirer');
        withdraw.addEventListener(
          'click',
          () => void refine({ answers: { [id]: null } }, 'Retrait de la réponse…'),
        );
        const shown =
          typeof value === 'number'
            ? `${String(value).replace('.', ',')} cm`
            : (ANSWER_LABELS[value] ?? value);
        return h('li', { 'data-question': id }, h('span', {}, `${id} : ${shown} `), withdraw);
      }),
    );
    byId('answers-empty').hidden = entries.length > 0;
  }

  function show(result: DialogueResult): void {
    current = result;
    section.hidden = false;
    section.dataset.observationId = result.observationId;
    renderCandidates(result);
    renderQuestion(result);
    renderAnswers(result);
    renderPhotos(result);
    choosePhoto(Math.min(photoIndex, result.photos.length - 1));
  }

  // Drawing the frame: a pointer drag on the photo, in fractions of the photo as shown (the
  // stored photo is already turned upright, so they are the photo's own fractions).
  let start: { x: number; y: number } | null = null;
  const at = (event: PointerEvent) => {
    const rect = image.getBoundingClientRect();
    return {
      x: clamp((event.clientX - rect.left) / rect.width),
      y: clamp((event.clientY - rect.top) / rect.height),
    };
  };
  stage.addEventListener('pointerdown', (event) => {
    if (!current || event.button !== 0) return;
    event.preventDefault();
    stage.setPointerCapture(event.pointerId);
    start = at(event);
    drawn = null;
  });
  stage.addEventListener('pointermove', (event) => {
    if (!start) return;
    const end = at(event);
    drawn = {
      x: Math.min(start.x, end.x),
      y: Math.min(start.y, end.y),
      width: Math.abs(end.x - start.x),
      height: Math.abs(end.y - start.y),
    };
    showBox(drawn, true);
  });
  stage.addEventListener('pointerup', () => {
    if (!start) return;
    start = null;
    const ok = drawn && drawn.width >= MIN_FRACTION && drawn.height >= MIN_FRACTION;
    apply.disabled = !ok;
    if (!ok) {
      drawn = null;
      showBox(current?.photos[photoIndex]?.region ?? null, false);
      say(
        status,
        'Cadre trop petit : tracez un rectangle autour de l’empreinte entière.',
        'warning',
      );
    } else say(status, 'Cadre tracé : « Analyser ce cadre » pour relancer l’identification.');
  });
  apply.addEventListener('click', () => {
    if (drawn) void refine({ region: drawn, photoIndex }, 'Analyse de l’empreinte encadrée…');
  });
  clear.addEventListener(
    'click',
    () => void refine({ region: null, photoIndex }, 'Analyse de la photo entière…'),
  );

  extra.addEventListener('change', () => {
    addButton.disabled = !extra.files?.length || (current?.photos.length ?? 0) >= 5;
  });
  addButton.addEventListener('click', () => {
    const file = extra.files?.[0];
    if (!current || !file) return;
    const problem = photoTypeProblem(file);
    if (problem) {
      say(status, problem, 'error');
      return;
    }
    void (async () => {
      addButton.disabled = true;
      say(status, 'Ajout et analyse de la photo…');
      try {
        const result = await call<Record<string, unknown>, DialogueResult>(
          'addObservationPhoto',
          { observationId: current?.observationId, photo: await photoPayload(file) },
          90_000,
        );
        extra.value = '';
        options.onResult(result);
        show(result);
        say(status, `Photo ajoutée : ${result.photos.length} photos fusionnées.`, 'success');
      } catch (err) {
        say(status, `Ajout impossible : ${frenchError(err)}`, 'error');
      } finally {
        addButton.disabled = !extra.files?.length || (current?.photos.length ?? 0) >= 5;
      }
    })();
  });

  return {
    show,
    reset() {
      current = null;
      photoIndex = 0;
      drawn = null;
      section.hidden = true;
      say(status, '');
    },
  };
}
