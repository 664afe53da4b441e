/**
 * A simulated hiker who answers the dialogue's questions about a print of a known species, and
 * says where they are. Used to evaluate the dialogue (`eval` / `cv --simulate-hiker`) and to fit
 * its verdict threshold and candidate sets at training time.
 *
 * Its noise model is its own: other parameters and another structure than the fusion's
 * likelihood model (packages/shared/src/dialogue/likelihood.ts), so the evaluation does not
 * grade the fusion with itself. It draws the truth from the catalogue's traits (what a real
 * print of that label looks like), then the hiker's mistakes:
 * - the print is one foot (front 55 % of the time: the front foot bears more weight and prints
 *   more clearly), of one individual: its size is drawn once within the foot's range stretched
 *   by `size.individualStretch` (guides give typical, not extreme, sizes), and its width keeps
 *   the same relative place in its range as its length (a big foot is big both ways);
 * - toes: the hiker counts one of the counts the foot shows; wrong with probability
 *   1 − `toes.correct`, then gives the other count;
 * - claws: they printed or not (`claws.printChance`, per catalogue frequency); a printed claw
 *   is spotted with `claws.spotted`, a missing one imagined with `claws.imagined`;
 * - pad shape: right with `padShape.correct`, else one of the two other readings;
 * - sizes: soft ground enlarges the print (with `size.softGround`, by a factor drawn in
 *   `size.enlargement`), the reading is off by a log-normal error (`size.logSd`), sometimes
 *   grossly (`size.grossError`: another part measured, the claws included, a wrong scale;
 *   factor in `size.grossFactor`), and is rounded to half a centimetre;
 * - « je ne sais pas »: `dontKnow` for choices, `size.dontKnow` for measurements;
 * - the place: a region where the species lives (Europe and North America most often: where
 *   the app is used and where the dataset's photos come from), at a known natural area; with
 *   `unexpectedPlace`, anywhere (a zoo, an escaped pet, a travelling hiker).
 *
 * Two profiles: `nominal` (an attentive hiker with a ruler) and `harsh` (hurried, no ruler,
 * poor light). Training calibrates on the harsh one so a client answering worse than expected
 * still gets the promised precision; the evaluation reports both.
 */
import {
  QUESTIONS,
  REGION_IDS,
  UNKNOWN_ANSWER,
  type AnswerValue,
  type ClawMarks,
  type GeoPoint,
  type PadShape,
  type Presence,
  type QuestionId,
  type RegionId,
  type Species,
} from '@wildlens/shared';

export interface HikerNoiseProfile {
  name: string;
  frontFootShare: number;
  dontKnow: number;
  toes: { correct: number };
  claws: { printChance: Record<ClawMarks, number>; spotted: number; imagined: number };
  padShape: { correct: number };
  size: {
    individualStretch: number;
    softGround: number;
    enlargement: [number, number];
    logSd: number;
    grossError: number;
    grossFactor: [number, number];
    dontKnow: number;
  };
  unexpectedPlace: number;
}

export const NOMINAL_HIKER: HikerNoiseProfile = {
  name: 'nominal',
  frontFootShare: 0.55,
  dontKnow: 0.08,
  toes: { correct: 0.85 },
  claws: {
    printChance: { usually: 0.8, sometimes: 0.45, rarely: 0.08 },
    spotted: 0.8,
    imagined: 0.08,
  },
  padShape: { correct: 0.6 },
  size: {
    individualStretch: 0.1,
    softGround: 0.3,
    enlargement: [1, 1.2],
    logSd: 0.15,
    grossError: 0.05,
    grossFactor: [0.6, 1.7],
    dontKnow: 0.1,
  },
  unexpectedPlace: 0.05,
};

export const HARSH_HIKER: HikerNoiseProfile = {
  name: 'harsh',
  frontFootShare: 0.55,
  dontKnow: 0.15,
  toes: { correct: 0.7 },
  claws: {
    printChance: { usually: 0.7, sometimes: 0.4, rarely: 0.12 },
    spotted: 0.65,
    imagined: 0.2,
  },
  padShape: { correct: 0.45 },
  size: {
    individualStretch: 0.15,
    softGround: 0.5,
    enlargement: [1, 1.35],
    logSd: 0.3,
    grossError: 0.15,
    grossFactor: [0.5, 2],
    dontKnow: 0.15,
  },
  unexpectedPlace: 0.12,
};

export const HIKER_PROFILES: Record<string, HikerNoiseProfile> = {
  nominal: NOMINAL_HIKER,
  harsh: HARSH_HIKER,
};

/** Where hikers are: how often each region is drawn when the species lives there. */
const REGION_SHARE: Record<RegionId, number> = {
  europe: 0.45,
  'north-america': 0.4,
  'latin-america': 0.04,
  africa: 0.03,
  asia: 0.05,
  oceania: 0.03,
};
const PRESENCE_SHARE: Record<Presence, number> = { widespread: 1, local: 0.6, absent: 0 };

/** Natural areas per region (±0.5° of jitter): the hiker's position. */
const PLACES: Record<RegionId, GeoPoint[]> = {
  europe: [
    { lat: 45.0, lng: 5.5 }, // Vercors
    { lat: 49.0, lng: 13.4 }, // Bavarian Forest
    { lat: 41.8, lng: 13.8 }, // Abruzzo
    { lat: 52.7, lng: 23.9 }, // Białowieża
    { lat: 57.0, lng: -4.5 }, // Scottish Highlands
    { lat: 37.1, lng: -6.4 }, // Doñana
    { lat: 68.0, lng: 25.0 }, // Lapland
  ],
  'north-america': [
    { lat: 44.6, lng: -110.5 }, // Yellowstone
    { lat: 44.1, lng: -74.2 }, // Adirondacks
    { lat: 35.6, lng: -83.5 }, // Great Smoky Mountains
    { lat: 45.8, lng: -78.4 }, // Algonquin
    { lat: 37.8, lng: -119.5 }, // Yosemite
    { lat: 63.3, lng: -150.5 }, // Denali
  ],
  'latin-america': [
    { lat: -51.0, lng: -73.0 }, // Torres del Paine
    { lat: -17.0, lng: -57.0 }, // Pantanal
    { lat: 10.4, lng: -84.7 }, // Monteverde
  ],
  africa: [
    { lat: 31.1, lng: -7.9 }, // High Atlas
    { lat: -2.3, lng: 34.8 }, // Serengeti
    { lat: -24.0, lng: 31.5 }, // Kruger
  ],
  asia: [
    { lat: 43.5, lng: 142.9 }, // Hokkaido
    { lat: 50.0, lng: 87.0 }, // Altai
    { lat: 28.0, lng: 84.0 }, // Annapurna
  ],
  oceania: [
    { lat: -33.7, lng: 150.3 }, // Blue Mountains
    { lat: -42.0, lng: 146.5 }, // Tasmania
    { lat: -43.5, lng: 171.0 }, // Canterbury
  ],
};

function pick<T>(items: readonly T[], weights: number[], random: () => number): T {
  const total = weights.reduce((a, b) => a + b, 0);
  let u = random() * total;
  for (let i = 0; i < items.length; i++) {
    u -= weights[i] as number;
    if (u < 0) return items[i] as T;
  }
  return items[items.length - 1] as T;
}

function uniform(random: () => number, [lo, hi]: [number, number]): number {
  return lo + (hi - lo) * random();
}

function gaussian(random: () => number): number {
  // Box–Muller; 1 − u keeps the logarithm finite.
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** One hiker in front of one print of `species`. Answers are drawn when first asked, then kept. */
export class SimulatedHiker {
  readonly place: GeoPoint;
  private readonly foot: 'front' | 'hind';
  /** Where this individual's foot sits in the catalogue range (0 = smallest, 1 = largest). */
  private readonly sizeRank: number;
  private readonly given = new Map<QuestionId, AnswerValue>();

  constructor(
    private readonly species: Species,
    private readonly profile: HikerNoiseProfile,
    private readonly random: () => number,
  ) {
    this.foot = random() < profile.frontFootShare ? 'front' : 'hind';
    const stretch = profile.size.individualStretch;
    this.sizeRank = -stretch + (1 + 2 * stretch) * random();
    this.place = this.drawPlace();
  }

  private drawPlace(): GeoPoint {
    const { random } = this;
    const regions = this.species.range.regions;
    const region =
      random() < this.profile.unexpectedPlace
        ? pick(
            REGION_IDS,
            REGION_IDS.map(() => 1),
            random,
          )
        : pick(
            REGION_IDS,
            REGION_IDS.map((r) => REGION_SHARE[r] * PRESENCE_SHARE[regions[r]]),
            random,
          );
    const place = pick(
      PLACES[region],
      PLACES[region].map(() => 1),
      random,
    );
    return { lat: place.lat + random() - 0.5, lng: place.lng + random() - 0.5 };
  }

  answer(question: QuestionId): AnswerValue {
    let value = this.given.get(question);
    if (value === undefined) {
      value = this.draw(question);
      this.given.set(question, value);
    }
    return value;
  }

  private draw(question: QuestionId): AnswerValue {
    const { random, profile } = this;
    const track = this.species.track;
    const foot = track[this.foot];
    const spec = QUESTIONS[question];
    if (spec.kind === 'number') {
      if (random() < profile.size.dontKnow) return UNKNOWN_ANSWER;
      const [lo, hi] = question === 'length' ? foot.lengthCm : foot.widthCm;
      let size = lo * Math.pow(hi / lo, this.sizeRank);
      if (random() < profile.size.softGround) size *= uniform(random, profile.size.enlargement);
      size *= Math.exp(profile.size.logSd * gaussian(random));
      if (random() < profile.size.grossError) size *= uniform(random, profile.size.grossFactor);
      return Math.min(spec.max, Math.max(spec.min, Math.round(size * 2) / 2));
    }
    if (random() < profile.dontKnow) return UNKNOWN_ANSWER;
    if (question === 'toes') {
      const shown = pick(
        foot.toes,
        foot.toes.map(() => 1),
        random,
      );
      const reported = random() < profile.toes.correct ? shown : shown === 5 ? 4 : 5;
      return String(reported);
    }
    if (question === 'claws') {
      const printed = random() < profile.claws.printChance[track.claws];
      const seen = random() < (printed ? profile.claws.spotted : profile.claws.imagined);
      return seen ? 'yes' : 'no';
    }
    if (question === 'padShape') {
      if (random() < profile.padShape.correct) return track.padShape;
      const others: PadShape[] = (['x', 'c', 'none'] as const).filter((s) => s !== track.padShape);
      return pick(
        others,
        others.map(() => 1),
        random,
      );
    }
    throw new Error(`the simulated hiker cannot answer ${question}`);
  }
}
