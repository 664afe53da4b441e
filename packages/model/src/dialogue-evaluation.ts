/**
 * The dialogue measured on held-out photos (`cv --simulate-hiker`): each fold's photos are
 * answered by simulated hikers, with dialogue parameters fitted on the other folds only (like
 * the verdicts of crossFittedSamples), so every figure is held-out.
 */
import { loadSpeciesCatalog, type DialogueParameters, type Species } from '@wildlens/shared';
import { calibrate, calibrationFor } from './calibration.js';
import { softmax } from './classifier.js';
import {
  dialogueFigures,
  photoPairs,
  simulateDialogue,
  type DialogueFigures,
  type DialogueFitOptions,
  type DialoguePhoto,
  type DialogueStep,
} from './dialogue-fitting.js';
import { HIKER_PROFILES, type HikerNoiseProfile } from './hiker-simulator.js';
import type { PhotoRegion } from './image-pipeline.js';
import { REGION_DOMAIN } from './footprint-model.js';
import { createRandom } from './random.js';
import {
  REGION_VIEW,
  calibrationSamples,
  dialoguePhotos,
  fitDialogue,
  type CrossValidationResult,
} from './training.js';

/**
 * A hiker's frame around the print of a tight crop: each side drawn inwards by up to 12 % of
 * the photo (hikers frame roughly; the crop's own margin leaves room). Deterministic per key.
 */
export function jitteredFrame(key: string, seed: number): PhotoRegion {
  const random = createRandom(hashOf(`${seed}/${key}`));
  const left = 0.12 * random();
  const top = 0.12 * random();
  const right = 1 - 0.12 * random();
  const bottom = 1 - 0.12 * random();
  return { x: left, y: top, width: right - left, height: bottom - top };
}

function hashOf(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * The situations measured: the photo alone (no place), with the place, the framed print with
 * the place (crops: a jittered frame), the framed print fused with its whole photo (two views
 * of one photo: geometric mean of their probabilities, in the crop domain), and two photos of
 * one trail (crops of one source photo).
 */
export const DIALOGUE_SCENARIOS = [
  'photo',
  'place',
  'region',
  'region+whole',
  'two-photos',
] as const;
export type DialogueScenario = (typeof DIALOGUE_SCENARIOS)[number];

export interface DialogueEvaluation {
  /** figures[profile][true domain][scenario][k answers]. */
  figures: Record<string, Record<string, Partial<Record<DialogueScenario, DialogueFigures[]>>>>;
  /** The parameters fitted on each fold's other folds (summary). */
  folds: { fold: number; photoCorrelation: number; identified: Record<string, number> }[];
}

export interface DialogueEvaluationOptions {
  seed: number;
  /** How each fold's dialogue parameters are fitted (defaults of fitDialogueParameters). */
  fit?: DialogueFitOptions;
  profiles?: HikerNoiseProfile[];
  maxAnswers?: number;
  species?: Species[];
}

/** Trajectories by profile, true domain and scenario, turned into figures by `figures()`. */
export class DialogueTrajectories {
  private readonly lists = new Map<string, DialogueStep[][]>();

  add(profile: string, domain: string, scenario: DialogueScenario, steps: DialogueStep[]): void {
    const key = `${profile}\u0000${domain}\u0000${scenario}`;
    this.lists.set(key, [...(this.lists.get(key) ?? []), steps]);
  }

  figures(): DialogueEvaluation['figures'] {
    const out: DialogueEvaluation['figures'] = {};
    for (const [key, list] of [...this.lists].sort(([a], [b]) => a.localeCompare(b))) {
      const [profile, domain, scenario] = key.split('\u0000') as [string, string, DialogueScenario];
      ((out[profile] ??= {})[domain] ??= {})[scenario] = dialogueFigures(list);
    }
    return out;
  }
}

export interface ScenarioInput {
  /** Held-out photos (whole photos, as identified without a frame). */
  photos: DialoguePhoto[];
  /** The framed print of each photo, when it has one. */
  framed?: (DialoguePhoto | undefined)[];
  /** A stable key per photo: the same hiker answers every scenario of that photo. */
  keys: string[];
  labels: string[];
  parameters: DialogueParameters | null;
}

/** Runs every scenario of these photos under every profile into `into`. */
export function simulateScenarios(
  input: ScenarioInput,
  options: DialogueEvaluationOptions,
  into: DialogueTrajectories,
): void {
  const species = options.species ?? loadSpeciesCatalog().species;
  const profiles = options.profiles ?? Object.values(HIKER_PROFILES);
  const { photos, framed, keys, labels, parameters } = input;
  for (const profile of profiles) {
    const sameView = parameters && { ...parameters, photoCorrelation: 1 };
    const simulate = (
      observation: DialoguePhoto[],
      key: string,
      withPlace = true,
      fused: DialogueParameters | null = parameters,
    ) =>
      simulateDialogue(observation, labels, species, fused, {
        profile,
        random: createRandom(hashOf(`${options.seed}/${profile.name}/${key}`)),
        maxAnswers: options.maxAnswers ?? 3,
        withPlace,
      });
    photos.forEach((photo, j) => {
      const key = keys[j] as string;
      into.add(profile.name, photo.domain, 'photo', simulate([photo], key, false));
      into.add(profile.name, photo.domain, 'place', simulate([photo], key));
      const frame = framed?.[j];
      if (!frame) return;
      into.add(profile.name, photo.domain, 'region', simulate([frame], key));
      // Two views of one photo: fused as one photo's worth (ρ = 1), not as two photos.
      into.add(
        profile.name,
        photo.domain,
        'region+whole',
        simulate([frame, { ...photo, predictedDomain: REGION_DOMAIN }], key, true, sameView),
      );
    });
    for (const [a, b] of photoPairs(photos))
      into.add(
        profile.name,
        (photos[a] as DialoguePhoto).domain,
        'two-photos',
        simulate([photos[a] as DialoguePhoto, photos[b] as DialoguePhoto], `${keys[a]}+${keys[b]}`),
      );
  }
}

export function crossFittedDialogue(
  cv: CrossValidationResult,
  options: DialogueEvaluationOptions,
): DialogueEvaluation {
  const samples = calibrationSamples(cv);
  const regionLogits = cv.viewLogits?.[REGION_VIEW];
  const trajectories = new DialogueTrajectories();
  const folds: DialogueEvaluation['folds'] = [];
  for (const fold of [...new Set(cv.folds)].sort((a, b) => a - b)) {
    const others = cv.folds.flatMap((f, i) => (f === fold ? [] : [i]));
    const own = cv.folds.flatMap((f, i) => (f === fold ? [i] : []));
    const calibration = calibrate(others.map((i) => samples[i] as (typeof samples)[number]));
    const parameters = fitDialogue(cv, calibration, { ...options.fit, seed: options.seed }, others);
    if (!parameters) throw new Error('the dialogue needs every label in the species catalogue');
    folds.push({
      fold,
      photoCorrelation: parameters.photoCorrelation,
      identified: Object.fromEntries(
        Object.entries(parameters.byDomain).map(([d, p]) => [d, p.identified]),
      ),
    });
    const photos = dialoguePhotos(cv, calibration, own);
    // A framed print is classified as a crop: the crop domain's temperature.
    const cropTemperature = calibrationFor(calibration, REGION_DOMAIN).temperature;
    const framed = own.map((i, j) => {
      const logits = regionLogits?.[i];
      return logits
        ? {
            ...(photos[j] as DialoguePhoto),
            probabilities: softmax(logits, cropTemperature),
            predictedDomain: REGION_DOMAIN,
          }
        : undefined;
    });
    simulateScenarios(
      { photos, framed, keys: own.map(String), labels: cv.labels, parameters },
      options,
      trajectories,
    );
  }
  return { figures: trajectories.figures(), folds };
}
