/**
 * What an observation stores so that the dialogue can be recomputed without the model, and the
 * result the API shows (identifyFootprint, refineObservation, addObservationPhoto,
 * getObservation, listObservations). Pure: no Firebase call.
 *
 * Each photo keeps the model's evidence on it (calibrated probabilities, predicted domain,
 * not-a-footprint gate, the model version, the framing it was classified with); the
 * observation keeps the answers, the place and a snapshot of the dialogue parameters of the
 * model that produced every photo's evidence. All photos' evidence always comes from one model
 * (a model pass under a newer model re-runs the older photos: handlers/dialogue.ts), so a model
 * promoted in between cannot mix one model's probabilities with another's thresholds.
 * `assessObservation` (@wildlens/shared) then gives the result in well under a millisecond.
 */
import { Timestamp, type DocumentData } from 'firebase-admin/firestore';
import {
  MAX_ASPECT_RATIO,
  MIN_REGION_PIXELS,
  QUESTIONS,
  REGION_LABELS_FR,
  assessObservation,
  loadSpeciesCatalog,
  regionBox,
  resultHintFr,
  unexpectedSpeciesNoteFr,
  type Answers,
  type DialogueParameters,
  type GeoPoint,
  type PhotoRegion,
  type Question,
  type QuestionId,
  type RegionId,
  type Species,
  type Verdict,
} from '@wildlens/shared';
import type { AnswersPatch } from '../api/schemas.js';
import { fail } from '../common/errors.js';
import type { ModelPrediction } from '../engine/model-engine.js';

/** What the model said about one photo, as stored: what the dialogue recomputes from. */
export interface StoredEvidence {
  /** Calibrated probabilities by species id, unrounded (the dialogue's input). */
  probabilities: Record<string, number>;
  /** The domain the photo was classified in ('crop' for a framed print), null when unknown. */
  domain: string | null;
  notFootprint: boolean;
  modelVersion: string;
}

/** One photo of an observation (the `photos` array of the record, in order). */
export interface StoredPhoto {
  /** null for the first photo (its objects keep the names photo.jpg / thumb.jpg). */
  photoId: string | null;
  photoPath: string;
  thumbnailPath: string;
  photoUrl: string;
  thumbnailUrl: string;
  /** The stored JPEG's size (the photo as seen, longest side ≤ 1600 px). */
  width: number;
  height: number;
  bytes: number;
  /** Mean luminance of the thumbnail (0..255), for the hint. */
  brightness: number;
  region: PhotoRegion | null;
  evidence: StoredEvidence;
  addedAt: Timestamp;
}

/** Everything the dialogue is recomputed from. */
export interface DialogueState {
  photos: StoredPhoto[];
  answers: Answers;
  location: GeoPoint | null;
  /** The dialogue parameters of the model of every photo's evidence (null: none fitted). */
  parameters: DialogueParameters | null;
}

const CATALOGUE: Species[] = loadSpeciesCatalog().species;
const bySpecies = new Map(CATALOGUE.map((s) => [s.id, s]));

export function evidenceOf(prediction: ModelPrediction, modelVersion: string): StoredEvidence {
  return {
    probabilities: { ...prediction.probabilities },
    domain: prediction.domain ?? null,
    notFootprint: prediction.verdict === 'not_a_footprint',
    modelVersion,
  };
}

/**
 * The parameters as the observation keeps them: without `fitted` (how they were fitted, for
 * reports only), which is all the model's manifest holds besides what the dialogue needs.
 */
export function parametersSnapshot(
  parameters: DialogueParameters | null | undefined,
): DialogueParameters | null {
  if (!parameters) return null;
  const { fitted: _report, ...kept } = parameters;
  return kept;
}

/**
 * A framed region must show a print on this photo (width × height as seen): at least
 * MIN_REGION_PIXELS a side with its margin, and not a sliver. `invalid-argument` otherwise.
 */
export function requireRegionFits(region: PhotoRegion, width: number, height: number): void {
  try {
    regionBox(region, width, height);
  } catch {
    fail(
      'invalid-argument',
      `Cadre trop petit ou trop allongé pour cette photo de ${width}×${height} pixels : encadrez l’empreinte entière (au moins ${MIN_REGION_PIXELS} pixels de côté, le grand côté au plus ${MAX_ASPECT_RATIO} fois le petit).`,
    );
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The state of a stored observation. Observations stored before the dialogue (no `photos`)
 * read as one photo whose evidence is their (rounded) probabilities, with no dialogue
 * parameters: never identified, candidates without a stated coverage.
 */
export function dialogueState(record: DocumentData): DialogueState {
  const stored = Array.isArray(record.photos) ? (record.photos as StoredPhoto[]) : [];
  const photos = stored.length ? stored : [legacyPhoto(record)];
  const location = isRecord(record.location)
    ? { lat: Number(record.location.lat), lng: Number(record.location.lng) }
    : null;
  return {
    photos,
    answers: isRecord(record.answers) ? (record.answers as Answers) : {},
    location,
    parameters: (record.dialogueParameters as DialogueParameters | null | undefined) ?? null,
  };
}

function legacyPhoto(record: DocumentData): StoredPhoto {
  const photo = isRecord(record.photo) ? record.photo : {};
  return {
    photoId: null,
    photoPath: String(record.photoPath ?? ''),
    thumbnailPath: String(record.thumbnailPath ?? ''),
    photoUrl: String(record.photoUrl ?? ''),
    thumbnailUrl: String(record.thumbnailUrl ?? ''),
    width: Number(photo.width ?? 0),
    height: Number(photo.height ?? 0),
    bytes: Number(photo.bytes ?? 0),
    brightness: 128,
    region: null,
    evidence: {
      probabilities: isRecord(record.probabilities)
        ? (record.probabilities as Record<string, number>)
        : {},
      domain: null,
      notFootprint: record.verdict === 'not_a_footprint',
      modelVersion: String((record.model as { version?: unknown } | undefined)?.version ?? ''),
    },
    addedAt: record.createdAt instanceof Timestamp ? record.createdAt : Timestamp.fromMillis(0),
  };
}

/**
 * Merges an answers patch into the stored answers: a value replaces, null withdraws, an absent
 * question keeps its answer.
 */
export function mergeAnswers(stored: Answers, patch: AnswersPatch | undefined): Answers {
  const merged: Answers = { ...stored };
  for (const [id, value] of Object.entries(patch ?? {}) as [QuestionId, unknown][]) {
    if (value === null) delete merged[id];
    else if (typeof value === 'string' || typeof value === 'number') merged[id] = value;
  }
  return merged;
}

const round4 = (p: number): number => Math.round(p * 1e4) / 1e4;

/** The record's fields that hold the dialogue's result, recomputed at every change. */
export interface AssessedFields {
  verdict: Verdict;
  top: { speciesId: string; probability: number }[];
  speciesId: string | null;
  speciesNameFr: string | null;
  /** The posterior over every species (rounded). */
  probabilities: Record<string, number>;
  candidates: { speciesIds: string[]; coverage: number | null };
  nextQuestionId: QuestionId | null;
  unexpectedSpeciesIds: string[];
  /** The geographic zone of the place (a coarse region: 'europe'…), null without a place. */
  zoneId: RegionId | null;
  /** The domain whose dialogue parameters applied ('crop', 'field', 'default'). */
  assessedDomain: string;
  /** What the result says, in French (resultHintFr): null when identified. */
  hint: string | null;
}

const nameOf = (speciesId: string): string => bySpecies.get(speciesId)?.nameFr ?? speciesId;

export function assessedFields(state: DialogueState): AssessedFields {
  const result = assessObservation({
    photos: state.photos.map((p) => ({
      probabilities: p.evidence.probabilities,
      ...(p.evidence.domain ? { domain: p.evidence.domain } : {}),
      notFootprint: p.evidence.notFootprint,
    })),
    answers: state.answers,
    location: state.location,
    parameters: state.parameters,
    species: CATALOGUE,
  });
  const top = result.top
    .slice(0, 3)
    .map((t) => ({ speciesId: t.speciesId, probability: round4(t.probability) }));
  const speciesId = result.verdict === 'not_a_footprint' ? null : (top[0]?.speciesId ?? null);
  const best = result.top[0];
  const first = state.photos[0];
  const hint = resultHintFr({
    verdict: result.verdict,
    best: best ? { nameFr: nameOf(best.speciesId), probability: best.probability } : null,
    candidates: {
      names: result.candidates.speciesIds.map(nameOf),
      coverage: result.candidates.coverage,
    },
    identifiedThreshold: result.identifiedThreshold,
    domain: result.domain,
    framed: state.photos.some((p) => p.region !== null),
    questionAsked: result.nextQuestion !== null,
    quality: first
      ? { shortSide: Math.min(first.width, first.height), brightness: first.brightness }
      : null,
  });
  return {
    verdict: result.verdict,
    top,
    speciesId,
    speciesNameFr: speciesId ? (bySpecies.get(speciesId)?.nameFr ?? null) : null,
    probabilities: Object.fromEntries(result.top.map((t) => [t.speciesId, round4(t.probability)])),
    candidates: result.candidates,
    nextQuestionId: result.nextQuestion?.id ?? null,
    unexpectedSpeciesIds: result.unexpectedSpecies,
    zoneId: result.region,
    assessedDomain: result.domain,
    hint,
  };
}

// ---------------------------------------------------------------------------------------------
// What the API shows
// ---------------------------------------------------------------------------------------------

export interface PhotoView {
  index: number;
  photoUrl: string;
  thumbnailUrl: string;
  /** The framing the photo was classified with, null for the whole photo. */
  region: PhotoRegion | null;
  width: number;
  height: number;
  /** The model found no footprint on this photo (it then counts only if no photo has one). */
  notFootprint: boolean;
}

export interface UnexpectedSpecies {
  speciesId: string;
  nameFr: string;
  /** French, shown as is by the app. */
  note: string;
}

/** The dialogue's part of every observation response. */
export interface DialogueView {
  /** « l'un de ces n, 9 fois sur 10 »: coverage null when the model has no fitted parameters. */
  candidates: { speciesIds: string[]; coverage: number | null };
  /** The most useful question still to ask, or null (identified, or nothing worth asking). */
  nextQuestion: Question | null;
  unexpectedSpecies: UnexpectedSpecies[];
  answers: Answers;
  photos: PhotoView[];
  /** The geographic zone whose range prior applied (from the observation's place). */
  zone: { id: RegionId; label: string } | null;
}

function unexpected(ids: string[], zone: RegionId | null): UnexpectedSpecies[] {
  if (!zone) return [];
  return ids.map((speciesId) => {
    const nameFr = bySpecies.get(speciesId)?.nameFr ?? speciesId;
    return { speciesId, nameFr, note: unexpectedSpeciesNoteFr(nameFr, zone) };
  });
}

/** The dialogue's view of a stored observation (recomputed for one stored before it). */
export function dialogueView(record: DocumentData): DialogueView {
  const state = dialogueState(record);
  const fields: Pick<
    AssessedFields,
    'candidates' | 'nextQuestionId' | 'unexpectedSpeciesIds' | 'zoneId'
  > = isRecord(record.candidates)
    ? {
        candidates: record.candidates as AssessedFields['candidates'],
        nextQuestionId: (record.nextQuestionId as QuestionId | null | undefined) ?? null,
        unexpectedSpeciesIds: (record.unexpectedSpeciesIds as string[] | undefined) ?? [],
        zoneId: (record.zoneId as RegionId | null | undefined) ?? null,
      }
    : assessedFields(state);
  return {
    candidates: fields.candidates,
    nextQuestion: fields.nextQuestionId ? (QUESTIONS[fields.nextQuestionId] ?? null) : null,
    unexpectedSpecies: unexpected(fields.unexpectedSpeciesIds, fields.zoneId),
    answers: state.answers,
    photos: state.photos.map((p, index) => ({
      index,
      photoUrl: p.photoUrl,
      thumbnailUrl: p.thumbnailUrl,
      region: p.region,
      width: p.width,
      height: p.height,
      notFootprint: p.evidence.notFootprint,
    })),
    zone: fields.zoneId ? { id: fields.zoneId, label: REGION_LABELS_FR[fields.zoneId] } : null,
  };
}

/** Every Storage object an observation record names: each photo and its thumbnail. */
export function observationObjectPaths(record: DocumentData): string[] {
  const named = [
    record.photoPath,
    record.thumbnailPath,
    ...(Array.isArray(record.photos)
      ? (record.photos as Partial<StoredPhoto>[]).flatMap((p) => [p.photoPath, p.thumbnailPath])
      : []),
  ];
  return [...new Set(named.filter((p): p is string => typeof p === 'string' && p.length > 0))];
}
