/**
 * What a result says to a person, in French (issue 23): exactly what is known, no more. Pure, so
 * the functions (the API's `hint`), the try page and its offline mode, and the app say the same.
 *
 * - `identified`: the species; the caller shows its sheet.
 * - `uncertain`: « pistes » whose wording scales with the probability, the candidate set
 *   (« l'une de ces 3 espèces, 9 fois sur 10 »), and, when the probability is high but the
 *   calibration does not call it identified, why, in plain French. Then what would help.
 * - `not_a_footprint`: advice only, never a species.
 */
import type { Verdict } from './parameters.js';

/** How strong an uncertain result's best lead is. */
export type LeadStrength = 'weak' | 'possible' | 'strong' | 'very-strong';

/** The probability bounds of the strengths (best lead's posterior probability). */
export const LEAD_STRENGTH_FLOORS: Record<Exclude<LeadStrength, 'weak'>, number> = {
  possible: 0.35,
  strong: 0.65,
  'very-strong': 0.9,
};

export function leadStrength(probability: number): LeadStrength {
  if (probability >= LEAD_STRENGTH_FLOORS['very-strong']) return 'very-strong';
  if (probability >= LEAD_STRENGTH_FLOORS.strong) return 'strong';
  if (probability >= LEAD_STRENGTH_FLOORS.possible) return 'possible';
  return 'weak';
}

const LEAD_LABEL_FR: Record<LeadStrength, string> = {
  weak: 'Piste faible',
  possible: 'Piste possible',
  strong: 'Piste sérieuse',
  'very-strong': 'Piste très sérieuse',
};

const percent = new Intl.NumberFormat('fr-FR', { style: 'percent', maximumFractionDigits: 1 });
/** « 27 % », « 99,1 % » (French typography: a narrow no-break space before %). */
export const percentFr = (p: number): string => percent.format(p);

export interface PhotoQuality {
  /** Shorter side of the (oriented) photo, pixels. */
  shortSide: number;
  /** Mean luminance 0..255. */
  brightness: number;
}

export interface ResultWordingInput {
  verdict: Verdict;
  /** The most probable species (French name) and its probability; null when unknown. */
  best: { nameFr: string; probability: number } | null;
  /** The candidate set (French names, in order) and its coverage (null: not calibrated). */
  candidates: { names: string[]; coverage: number | null } | null;
  /**
   * The top-1 probability from which this kind of photo is called identified (the dialogue
   * parameters of its domain); ≥ 1 when never; null when the caller does not know it.
   */
  identifiedThreshold: number | null;
  /** The domain whose calibration applied: 'crop', 'field', 'default', or null (unknown). */
  domain: string | null;
  /** The print is framed on the photo (a region was drawn). */
  framed: boolean;
  /** A question waits for an answer (the dialogue's next question). */
  questionAsked: boolean;
  /** The first photo's size and light; null when unknown. */
  quality: PhotoQuality | null;
}

const DOMAIN_FR: Record<string, string> = {
  crop: 'une empreinte en gros plan',
  field: 'une photo de terrain',
};
const kindOfPhoto = (domain: string | null): string =>
  (domain && DOMAIN_FR[domain]) ?? 'ce genre de photo';

/** The title of a result: « Empreinte identifiée : Renard roux », « Piste faible : … ». */
export function resultHeadlineFr(
  verdict: Verdict,
  best: { nameFr: string; probability: number } | null,
): string {
  if (verdict === 'not_a_footprint') return 'Aucune empreinte reconnue sur cette photo.';
  if (!best) return 'Résultat incertain.';
  if (verdict === 'identified') return `Empreinte identifiée : ${best.nameFr}`;
  const strength = leadStrength(best.probability);
  const label = LEAD_LABEL_FR[strength];
  return strength === 'weak'
    ? `${label} : aucune espèce ne se détache`
    : `${label}, non confirmée : ${best.nameFr} (${percentFr(best.probability)})`;
}

/** « l'une de ces 3 espèces, 9 fois sur 10 : a, b, c. » */
export function candidatesSentenceFr(candidates: {
  names: string[];
  coverage: number | null;
}): string {
  const { names, coverage } = candidates;
  if (!names.length) return '';
  if (coverage === null) return `Espèces possibles : ${names.join(', ')}.`;
  const times = Math.round(coverage * 10);
  return names.length === 1
    ? `Espèce retenue ${times} fois sur 10 : ${names[0]}.`
    : `L’une de ces ${names.length} espèces, ${times} fois sur 10 : ${names.join(', ')}.`;
}

function photoTips(quality: PhotoQuality | null): string[] {
  if (!quality) return [];
  const tips: string[] = [];
  if (quality.brightness < 60) tips.push('prenez la photo avec plus de lumière (évitez l’ombre)');
  else if (quality.brightness > 220) tips.push('évitez le plein soleil et les reflets');
  if (quality.shortSide > 0 && quality.shortSide < 480)
    tips.push(
      `utilisez une meilleure résolution (la photo fait ${quality.shortSide} pixels de côté)`,
    );
  return tips;
}

/** Why a strong lead is not called identified, in plain French. */
function notIdentifiedBecause(input: ResultWordingInput, probability: number): string {
  const kind = kindOfPhoto(input.domain);
  const threshold = input.identifiedThreshold;
  if (threshold === null)
    return `Le modèle ne la déclare pas identifiée : son étalonnage demande plus de certitude pour ${kind}.`;
  if (threshold >= 1)
    return `Le modèle n’est pas étalonné pour déclarer identifiée ${kind} : il n’a pas montré, sur des photos de contrôle, qu’il s’y trompe moins d’une fois sur 10. ${percentFr(probability)} reste donc une piste, pas une identification.`;
  return `Pour ${kind}, le modèle ne déclare une espèce identifiée qu’à partir de ${percentFr(threshold)} : ${percentFr(probability)} reste une piste.`;
}

/**
 * The hint of a result: null when identified (the species and its sheet say it all), advice
 * only for `not_a_footprint`, and for `uncertain` the strength of the lead, the candidate set,
 * why it is not identified when the lead is strong, and what would help.
 */
export function resultHintFr(input: ResultWordingInput): string | null {
  if (input.verdict === 'identified') return null;
  const tips = photoTips(input.quality);
  if (input.verdict === 'not_a_footprint') {
    const advice = [
      'cadrez une seule empreinte entière, vue de dessus, qui remplit la photo',
      ...tips,
    ];
    return `Aucune empreinte reconnue sur cette photo : ${advice.join(', ')}. Si l’empreinte y est, encadrez-la sur la photo.`;
  }
  const sentences: string[] = [];
  const best = input.best;
  const strength = best ? leadStrength(best.probability) : 'weak';
  if (!best || strength === 'weak')
    sentences.push(
      best
        ? `Piste faible : aucune espèce ne se détache (la plus probable, ${best.nameFr}, n’a que ${percentFr(best.probability)}).`
        : 'Piste faible : aucune espèce ne se détache.',
    );
  else if (strength === 'possible')
    sentences.push(
      `Piste possible : ${best.nameFr} (${percentFr(best.probability)}), sans certitude.`,
    );
  else {
    sentences.push(`${LEAD_LABEL_FR[strength]} : ${best.nameFr} (${percentFr(best.probability)}).`);
    sentences.push(notIdentifiedBecause(input, best.probability));
  }
  if (input.candidates?.names.length) sentences.push(candidatesSentenceFr(input.candidates));
  const help: string[] = [];
  if (input.questionAsked) help.push('répondez à la question proposée');
  if (!input.framed && input.domain !== 'crop') help.push('encadrez l’empreinte sur la photo');
  help.push(...tips);
  help.push(
    input.domain === 'crop'
      ? 'ajoutez une autre photo de la piste'
      : 'ajoutez une autre photo de la piste : une seule empreinte entière, vue de dessus, avec une règle ou un objet connu à côté pour l’échelle',
  );
  sentences.push(`Pour en savoir plus : ${help.join(', ')}.`);
  return sentences.join(' ');
}
