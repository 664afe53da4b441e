/**
 * The one validation layer of the API: every callable payload and the multipart form of
 * POST /identify go through these zod schemas (zod: the most used TypeScript schema library,
 * with JSON Schema export, which generates the field tables of docs/identification-api.md and
 * docs/admin-api.md). Its v4 API (`zod/v4`), shipped by the repository's one zod install. Rules live here once: a new field is refused until a schema names it
 * (objects are strict), and the callable, the form and EXIF share the same date and location
 * rules (INPUT_RULES).
 */
import { z } from 'zod/v4';
import {
  DOMAIN_PATTERN,
  MIN_REGION_FRACTION,
  QUESTIONS,
  QUESTION_IDS,
  SPECIES_ID_PATTERN,
  UNKNOWN_ANSWER,
  findSpecies,
  regionInsidePhoto,
  type Question,
  type QuestionId,
} from '@wildlens/shared';
import { fail } from '../common/errors.js';

/** The rules table, shown in the docs; EXIF values outside it are ignored rather than stored. */
export const INPUT_RULES = {
  /** Capture dates: not before this day (UTC)… */
  oldestTakenAt: '1990-01-01',
  /** …and not later than now plus this (time zones, clock skew). */
  takenAtFutureToleranceHours: 24,
  /** GPS accuracy above this (metres) is no position at all. */
  maxAccuracyM: 50_000,
  /** History page size. */
  maxPageSize: 50,
  /** Photos of one observation (the first one and those added with addObservationPhoto). */
  maxPhotosPerObservation: 5,
} as const;

const OLDEST_TAKEN_AT_MS = Date.parse(`${INPUT_RULES.oldestTakenAt}T00:00:00Z`);
/** Firestore Timestamp range ends at 9999-12-31. */
const MAX_TIMESTAMP_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const fr = (message: string) => ({ error: message });
/** An object's own message for a wrong type; unknown keys get parseInput's « Champ inconnu ». */
const objectFr = (message: string) => ({
  error: (issue: { code?: string }) => (issue.code === 'unrecognized_keys' ? undefined : message),
});

// ---------------------------------------------------------------------------------------------
// Identifiers: strict shapes, so nothing reserved (`__x__`, `.`, `..`, `/`) reaches Firestore.
// ---------------------------------------------------------------------------------------------

export const observationIdSchema = z
  .string(fr('observationId doit être une chaîne.'))
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, fr('Identifiant d’observation invalide.'))
  .describe('identifiant d’observation (renvoyé par identifyFootprint)');

export const speciesIdSchema = z
  .string(fr('L’identifiant d’espèce doit être une chaîne, par exemple « renard ».'))
  .max(40, fr('Identifiant d’espèce invalide : attendu par exemple « renard ».'))
  .regex(SPECIES_ID_PATTERN, fr('Identifiant d’espèce invalide : attendu par exemple « renard ».'))
  .describe('identifiant d’espèce du catalogue, par exemple « renard »');

/** A species id of the catalogue (the bundled one: the same the model is trained on). */
export const knownSpeciesIdSchema = speciesIdSchema
  .refine((id) => findSpecies(id) !== undefined, {
    error: (issue) => `Espèce inconnue : « ${String(issue.input).slice(0, 40)} ».`,
  })
  .describe('identifiant d’une espèce du catalogue, par exemple « renard »');

export const trainingImageIdSchema = z
  .string(fr('Identifiant d’image invalide.'))
  .regex(/^[0-9a-f]{64}$/, fr('Identifiant d’image invalide.'))
  .describe('SHA-256 (64 hexadécimaux) de l’image d’entraînement');

export const candidateIdSchema = z
  .string(fr('Identifiant de candidat invalide.'))
  .regex(/^[0-9a-f]{32}$/, fr('Identifiant de candidat invalide.'))
  .describe('identifiant du candidat à vérifier (32 hexadécimaux)');

export const modelVersionSchema = z
  .string(fr('Version de modèle invalide.'))
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, fr('Version de modèle invalide.'))
  .describe('version de modèle, par exemple « 20260501T080000 »');

// ---------------------------------------------------------------------------------------------
// Location and capture date (callable, form and EXIF alike)
// ---------------------------------------------------------------------------------------------

export const locationSchema = z
  .strictObject(
    {
      lat: z
        .number(fr('location.lat doit être un nombre entre -90 et 90.'))
        .min(-90, fr('location.lat doit être un nombre entre -90 et 90.'))
        .max(90, fr('location.lat doit être un nombre entre -90 et 90.')),
      lng: z
        .number(fr('location.lng doit être un nombre entre -180 et 180.'))
        .min(-180, fr('location.lng doit être un nombre entre -180 et 180.'))
        .max(180, fr('location.lng doit être un nombre entre -180 et 180.')),
      accuracyM: z
        .number(fr('location.accuracyM doit être un nombre de mètres.'))
        .min(0, fr('location.accuracyM doit être un nombre positif (mètres).'))
        .max(
          INPUT_RULES.maxAccuracyM,
          fr(`location.accuracyM doit valoir au plus ${INPUT_RULES.maxAccuracyM} m.`),
        )
        .optional(),
    },
    objectFr('location doit être un objet { lat, lng, accuracyM? }.'),
  )
  .describe('position de la photo (degrés WGS84, précision en mètres)');

export type ObservationLocation = z.output<typeof locationSchema>;

// Calendar-checked below; hours 00–23, minutes and seconds 00–59, offsets up to ±14:00.
const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?(?:Z|[+-](?:0\d|1[0-4]):?[0-5]\d)?)?$/;

/** Why a capture date is refused (null when it is acceptable): one rule for every source. */
export function takenAtProblem(date: Date, now: Date): string | null {
  const ms = date.getTime();
  if (Number.isNaN(ms)) return 'takenAt n’est pas une date valide.';
  if (ms > now.getTime() + INPUT_RULES.takenAtFutureToleranceHours * 3_600_000) {
    return 'takenAt est dans le futur : vérifiez la date de votre appareil.';
  }
  if (ms < OLDEST_TAKEN_AT_MS) return 'takenAt est trop ancien (avant 1990).';
  return null;
}

/** ISO 8601 date (a real calendar day: no 30 February), within the takenAt rule. */
export function takenAtSchema(now: () => Date) {
  return z
    .string(fr('takenAt doit être une date ISO 8601, par exemple « 2026-05-01T10:30:00Z ».'))
    .max(40, fr('takenAt doit être une date ISO 8601, par exemple « 2026-05-01T10:30:00Z ».'))
    .transform((value, ctx) => {
      const text = value.trim();
      const match = ISO_8601.exec(text);
      const [year, month, day] = match ? match.slice(1, 4).map(Number) : [];
      const calendar =
        year !== undefined && month !== undefined && day !== undefined
          ? new Date(Date.UTC(year, month - 1, day))
          : null;
      if (
        !calendar ||
        calendar.getUTCMonth() !== (month ?? 0) - 1 ||
        calendar.getUTCDate() !== day
      ) {
        ctx.addIssue({
          code: 'custom',
          message:
            'takenAt doit être une date ISO 8601 existante, par exemple « 2026-05-01T10:30:00Z ».',
        });
        return z.NEVER;
      }
      const date = new Date(text);
      const problem = takenAtProblem(date, now());
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
        return z.NEVER;
      }
      return date;
    })
    .describe('date de prise de vue, ISO 8601 (entre 1990 et demain)');
}

// ---------------------------------------------------------------------------------------------
// Identification (callable and multipart form)
// ---------------------------------------------------------------------------------------------

/** A missing photo is an image refusal like the others: details.reason `empty`. */
const MISSING_PHOTO = 'Aucune photo reçue : le champ photo (base64) est obligatoire.';

/** Issue params carrying the machine-readable image refusal reason into details.reason. */
const withReason = (reason: string) => ({ params: { reason } });

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DATA_URL_PREFIX = /^data:image\/[a-z+.-]+;base64,/i;

/** Base64 (optionally a data: URL) → bytes, refusing oversize payloads before decoding. */
export function photoBase64Schema(maxBytes: number) {
  const mb = Math.round(maxBytes / (1024 * 1024));
  return z
    .string({
      error: (issue) =>
        issue.input === undefined || issue.input === null
          ? MISSING_PHOTO
          : 'Le champ photo doit être une chaîne base64 (JPEG, PNG ou WebP).',
    })
    .transform((value, ctx) => {
      const body = value.replace(DATA_URL_PREFIX, '').replace(/\s+/g, '');
      if (body.length === 0) {
        ctx.addIssue({
          code: 'custom',
          message: 'Aucune photo reçue : le champ photo est vide.',
          ...withReason('empty'),
        });
        return z.NEVER;
      }
      if (Math.floor((body.length * 3) / 4) > maxBytes + 2) {
        ctx.addIssue({
          code: 'custom',
          message: `L'image dépasse la taille maximale de ${mb} Mo.`,
          ...withReason('too_large'),
        });
        return z.NEVER;
      }
      if (body.length % 4 === 1 || !BASE64.test(body)) {
        ctx.addIssue({ code: 'custom', message: 'Le champ photo n’est pas un base64 valide.' });
        return z.NEVER;
      }
      return Buffer.from(body, 'base64');
    })
    .describe(
      `photo JPEG, PNG ou WebP en base64 (ou data: URL), au plus ${mb} Mo une fois décodée`,
    );
}

/** The user's consent to let the photo help train the model (never assumed). */
export const shareForTrainingSchema = z.boolean(fr('shareForTraining doit valoir true ou false.'));

// ---------------------------------------------------------------------------------------------
// The dialogue: the framed print and the hiker's answers
// ---------------------------------------------------------------------------------------------

const REGION_SHAPE_FR =
  'region doit être un objet { x, y, width, height } : le cadre de l’empreinte en fractions de la photo (de 0 à 1).';
const fraction = (name: string) =>
  z
    .number(fr(`region.${name} doit être un nombre de 0 à 1 (fraction de la photo).`))
    .min(0, fr(`region.${name} doit être un nombre de 0 à 1 (fraction de la photo).`))
    .max(1, fr(`region.${name} doit être un nombre de 0 à 1 (fraction de la photo).`));
const extent = (name: 'width' | 'height') =>
  z
    .number(fr(`region.${name} doit être un nombre de ${MIN_REGION_FRACTION} à 1.`))
    .min(
      MIN_REGION_FRACTION,
      fr(
        `Cadre trop petit : region.${name} doit valoir au moins ${MIN_REGION_FRACTION} (${MIN_REGION_FRACTION * 100} % de la photo).`,
      ),
    )
    .max(1, fr(`region.${name} doit être un nombre de ${MIN_REGION_FRACTION} à 1.`));

/**
 * The print the hiker framed, as fractions of the photo as seen (EXIF orientation applied).
 * The size in pixels is checked against the photo itself by the handler (regionBox).
 */
export const photoRegionSchema = z
  .strictObject(
    { x: fraction('x'), y: fraction('y'), width: extent('width'), height: extent('height') },
    objectFr(REGION_SHAPE_FR),
  )
  .refine(regionInsidePhoto, {
    error: 'Le cadre dépasse de la photo : x + width et y + height doivent valoir au plus 1.',
  })
  .describe(
    'cadre de l’empreinte sur la photo telle qu’affichée (orientation EXIF appliquée) : x, y du coin haut gauche, width, height, en fractions de la largeur et de la hauteur',
  );

function answerSchema(question: Question) {
  if (question.kind === 'choice') {
    const ids = question.options.map((o) => o.id);
    const message = `Réponse invalide à « ${question.text} » : choisissez parmi ${ids.map((id) => `« ${id} »`).join(', ')}, ou null pour retirer la réponse.`;
    return z
      .enum(ids as [string, ...string[]], fr(message))
      .nullable()
      .optional()
      .describe(`${ids.join(', ')} ; null retire la réponse`);
  }
  const message = `Réponse invalide à « ${question.text} » : un nombre de ${question.min} à ${question.max} cm, « ${UNKNOWN_ANSWER} », ou null pour retirer la réponse.`;
  return z
    .union(
      [
        z.number(fr(message)).min(question.min, fr(message)).max(question.max, fr(message)),
        z.literal(UNKNOWN_ANSWER, fr(message)),
      ],
      fr(message),
    )
    .nullable()
    .optional()
    .describe(
      `nombre de ${question.min} à ${question.max} (${question.unit}) ou « ${UNKNOWN_ANSWER} » ; null retire la réponse`,
    );
}

/**
 * Answers to the dialogue's questions (QUESTIONS of @wildlens/shared: the ids and options are
 * theirs). A value answers (`unknown`: « je ne sais pas », the question is not asked again);
 * null withdraws the answer (the question may be asked again); an absent key keeps the stored one.
 */
export const answersSchema = z
  .strictObject(
    Object.fromEntries(QUESTION_IDS.map((id) => [id, answerSchema(QUESTIONS[id])])) as Record<
      QuestionId,
      ReturnType<typeof answerSchema>
    >,
    objectFr('answers doit être un objet { question: réponse }, par exemple { "toes": "4" }.'),
  )
  .describe(
    'réponses aux questions (voir nextQuestion), fusionnées avec les réponses déjà données',
  );

export type AnswersPatch = Partial<Record<QuestionId, string | number | null>>;

/** Fields shared by both transports: the same rules whatever carries them. */
function identifyFields(now: () => Date) {
  return {
    region: photoRegionSchema
      .nullish()
      .describe(
        'cadre de l’empreinte (facultatif) : seul ce cadre est analysé, comme une photo serrée d’une empreinte',
      ),
    location: locationSchema.nullish(),
    takenAt: takenAtSchema(now).nullish(),
    shareForTraining: shareForTrainingSchema
      .optional()
      .describe(
        'consentement : la photo peut servir à entraîner le modèle après vérification (false par défaut)',
      ),
  };
}

/** identifyFootprint callable: `{ photo, region?, location?, takenAt?, shareForTraining? }`. */
export function identifyFootprintRequest(limits: { maxBytes: number }, now: () => Date) {
  return z.strictObject(
    { photo: photoBase64Schema(limits.maxBytes), ...identifyFields(now) },
    objectFr(
      'Requête invalide : un objet { photo, region?, location?, takenAt?, shareForTraining? } est attendu.',
    ),
  );
}

/** POST /identify: the form's photo part and text fields, checked by the same field rules. */
export function identifyFormRequest(now: () => Date) {
  return z.strictObject({
    photo: z.instanceof(Buffer).refine((b) => b.length > 0, {
      message: 'Aucune photo reçue : envoyez le fichier dans le champ « photo ».',
      ...withReason('empty'),
    }),
    ...identifyFields(now),
  });
}

export type PhotoRegionInput = z.output<typeof photoRegionSchema>;

export type IdentifyInput = {
  photo: Buffer;
  /** The framed print (absent or null: the whole photo). */
  region?: PhotoRegionInput | null;
  location: ObservationLocation | null;
  takenAt: Date | null;
  shareForTraining: boolean;
};

/** Text fields of the multipart form (numbers as decimal strings). */
export const FORM_NUMBER = /^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$/;

// ---------------------------------------------------------------------------------------------
// History and catalogue
// ---------------------------------------------------------------------------------------------

export const listObservationsRequest = z
  .strictObject(
    {
      pageSize: z
        .int(fr(`pageSize doit être un entier entre 1 et ${INPUT_RULES.maxPageSize}.`))
        .min(1, fr(`pageSize doit être un entier entre 1 et ${INPUT_RULES.maxPageSize}.`))
        .max(
          INPUT_RULES.maxPageSize,
          fr(`pageSize doit être un entier entre 1 et ${INPUT_RULES.maxPageSize}.`),
        )
        .optional(),
      cursor: z
        .string(fr('Curseur de pagination invalide.'))
        .max(300, fr('Curseur de pagination invalide.'))
        .nullish()
        .describe('nextCursor de la page précédente'),
    },
    objectFr('Requête invalide : un objet { pageSize?, cursor? } est attendu.'),
  )
  .nullish();

/** What an opaque history cursor holds (base64url JSON): checked like any client input. */
export const observationCursor = z.strictObject({
  t: z.int().min(0).max(MAX_TIMESTAMP_MS),
  id: observationIdSchema,
});

export const observationRequest = z.strictObject(
  { observationId: observationIdSchema },
  objectFr('Requête invalide : un objet { observationId } est attendu.'),
);

export const observationFeedbackRequest = z.strictObject(
  {
    observationId: observationIdSchema,
    correctedSpeciesId: knownSpeciesIdSchema
      .nullable()
      .describe('espèce juste selon l’utilisateur, null pour retirer la correction'),
  },
  objectFr('Requête invalide : un objet { observationId, correctedSpeciesId } est attendu.'),
);

export const observationShareRequest = z.strictObject(
  {
    observationId: observationIdSchema,
    shareForTraining: shareForTrainingSchema.describe(
      'true : consentement donné (l’observation rejoint la file de vérification) ; false : retiré (candidat et copie d’entraînement effacés)',
    ),
  },
  objectFr('Requête invalide : un objet { observationId, shareForTraining } est attendu.'),
);

const MAX_PHOTOS = INPUT_RULES.maxPhotosPerObservation;

/**
 * refineObservation: new answers and/or a new framing of one stored photo (a model pass on
 * that photo), `{ observationId, answers?, region?, photoIndex? }`.
 */
export const refineObservationRequest = z
  .strictObject(
    {
      observationId: observationIdSchema,
      answers: answersSchema.optional(),
      region: photoRegionSchema
        .nullable()
        .optional()
        .describe(
          'nouveau cadre de l’empreinte sur la photo photoIndex (null : plus de cadre, toute la photo) ; relance le modèle sur la photo enregistrée et compte comme une identification',
        ),
      photoIndex: z
        .int(fr(`photoIndex doit être un entier de 0 à ${MAX_PHOTOS - 1}.`))
        .min(0, fr(`photoIndex doit être un entier de 0 à ${MAX_PHOTOS - 1}.`))
        .max(MAX_PHOTOS - 1, fr(`photoIndex doit être un entier de 0 à ${MAX_PHOTOS - 1}.`))
        .optional()
        .describe('photo que region cadre (0 : la première, par défaut)'),
    },
    objectFr(
      'Requête invalide : un objet { observationId, answers?, region?, photoIndex? } est attendu.',
    ),
  )
  .refine((request) => request.photoIndex === undefined || request.region !== undefined, {
    error: 'photoIndex désigne la photo à recadrer : envoyez-le avec region.',
  });

/** addObservationPhoto: `{ observationId, photo, region? }` (at most 5 photos per observation). */
export function addObservationPhotoRequest(limits: { maxBytes: number }) {
  return z.strictObject(
    {
      observationId: observationIdSchema,
      photo: photoBase64Schema(limits.maxBytes),
      region: photoRegionSchema
        .nullish()
        .describe('cadre de l’empreinte sur cette photo (facultatif)'),
    },
    objectFr('Requête invalide : un objet { observationId, photo, region? } est attendu.'),
  );
}

// ---------------------------------------------------------------------------------------------
// Offline observations (syncOfflineObservations)
// ---------------------------------------------------------------------------------------------

/** Observations one syncOfflineObservations call carries at most. */
export const MAX_SYNC_OBSERVATIONS = 20;

const probability = z
  .number(fr('probability doit être un nombre de 0 à 1.'))
  .min(0, fr('probability doit être un nombre de 0 à 1.'))
  .max(1, fr('probability doit être un nombre de 0 à 1.'));

/**
 * What the device's bundle answered (the runtime's `onDeviceResult`, with the moment it
 * answered): kept beside the server's answer, never used in its place.
 */
export function onDeviceResultSchema(now: () => Date) {
  return z
    .strictObject(
      {
        bundleVersion: modelVersionSchema.describe(
          'version du paquet hors ligne qui a répondu (celle du modèle)',
        ),
        verdict: z
          .enum(
            ['identified', 'uncertain', 'not_a_footprint'],
            fr('onDevice.verdict doit valoir identified, uncertain ou not_a_footprint.'),
          )
          .describe('verdict donné sur l’appareil'),
        top: z
          .array(
            z.strictObject(
              { speciesId: knownSpeciesIdSchema, probability },
              objectFr('Chaque élément de onDevice.top est un objet { speciesId, probability }.'),
            ),
            fr('onDevice.top doit être une liste de 1 à 3 espèces { speciesId, probability }.'),
          )
          .min(
            1,
            fr('onDevice.top doit être une liste de 1 à 3 espèces { speciesId, probability }.'),
          )
          .max(
            3,
            fr('onDevice.top doit être une liste de 1 à 3 espèces { speciesId, probability }.'),
          )
          .describe('les espèces les plus probables sur l’appareil, la plus probable d’abord'),
        domain: z
          .string(fr('onDevice.domain doit être un type de photo, par exemple « field ».'))
          .regex(
            DOMAIN_PATTERN,
            fr('onDevice.domain doit être un type de photo, par exemple « field ».'),
          )
          .optional()
          .describe('type de photo reconnu sur l’appareil (crop, field)'),
        oodScore: z
          .number(fr('onDevice.oodScore doit être un nombre de -1 à 1.'))
          .min(-1, fr('onDevice.oodScore doit être un nombre de -1 à 1.'))
          .max(1, fr('onDevice.oodScore doit être un nombre de -1 à 1.'))
          .optional()
          .describe('ressemblance de la photo aux empreintes connues du modèle (cosinus)'),
        identifiedAt: takenAtSchema(now).describe(
          'moment de l’identification sur l’appareil, ISO 8601',
        ),
      },
      objectFr(
        'onDevice doit être un objet { bundleVersion, verdict, top, identifiedAt, domain?, oodScore? }.',
      ),
    )
    .describe('réponse du modèle sur l’appareil (onDeviceResult du module hors ligne)');
}

export const clientIdSchema = z
  .string(fr('clientId doit être une chaîne.'))
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/,
    fr('clientId invalide : 1 à 64 lettres, chiffres, « - » ou « _ » (un UUID convient).'),
  )
  .describe(
    'identifiant choisi par l’appareil pour cette observation (un UUID) : le même identifiant ne crée jamais deux observations',
  );

/** One offline observation: what identifyFootprint takes, its id on the device and its answer. */
export function syncOfflineObservationItem(limits: { maxBytes: number }, now: () => Date) {
  return z.strictObject(
    {
      clientId: clientIdSchema,
      photo: photoBase64Schema(limits.maxBytes),
      takenAt: takenAtSchema(now),
      location: locationSchema.nullish(),
      region: identifyFields(now).region,
      shareForTraining: identifyFields(now).shareForTraining,
      onDevice: onDeviceResultSchema(now),
    },
    objectFr(
      'Observation invalide : un objet { clientId, photo, takenAt, location?, region?, shareForTraining?, onDevice } est attendu.',
    ),
  );
}

export type SyncOfflineObservationInput = z.output<ReturnType<typeof syncOfflineObservationItem>>;

const SYNC_COUNT_FR = `observations doit être une liste de 1 à ${MAX_SYNC_OBSERVATIONS} observations.`;

function syncBatch(item: z.ZodType) {
  return z.strictObject(
    {
      observations: z
        .array(item, fr(SYNC_COUNT_FR))
        .min(1, fr(SYNC_COUNT_FR))
        .max(MAX_SYNC_OBSERVATIONS, fr(SYNC_COUNT_FR))
        .describe('observations faites hors ligne, chacune traitée et rapportée à part'),
    },
    objectFr('Requête invalide : un objet { observations } est attendu.'),
  );
}

/** syncOfflineObservations: `{ observations: [...] }`, as documented (every item's fields). */
export function syncOfflineObservationsRequest(limits: { maxBytes: number }, now: () => Date) {
  return syncBatch(syncOfflineObservationItem(limits, now));
}

/**
 * The batch as the handler reads it first: its items are then judged one by one
 * (syncOfflineObservationItem), so one bad item is refused alone and the others are kept.
 */
export const syncOfflineObservationsEnvelope = syncBatch(z.unknown());

export const speciesRequest = z.strictObject(
  { speciesId: speciesIdSchema },
  objectFr('Requête invalide : un objet { speciesId } est attendu.'),
);

/** Callables without parameters accept nothing, null or an empty object. */
export const noParameters = z
  .strictObject({}, fr('Cette fonction ne prend aucun paramètre.'))
  .nullish();

// ---------------------------------------------------------------------------------------------
// Admin callables
// ---------------------------------------------------------------------------------------------

export const MAX_FILES_PER_BATCH = 200;

export const createUploadUrlsRequest = z.strictObject(
  {
    speciesId: knownSpeciesIdSchema,
    files: z
      .array(
        z.strictObject(
          {
            name: z.string().min(1).max(500),
            size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
            contentType: z.string().max(200),
          },
          objectFr('Chaque fichier est décrit par { name, size, contentType }.'),
        ),
        fr('Indiquez au moins un fichier.'),
      )
      .min(1, fr('Indiquez au moins un fichier.'))
      .max(MAX_FILES_PER_BATCH, fr(`Au plus ${MAX_FILES_PER_BATCH} fichiers par envoi.`)),
    domain: z
      .enum(
        ['crop', 'field'],
        fr('Domaine invalide : « crop » (gros plan) ou « field » (photo de terrain).'),
      )
      .optional()
      .describe(
        'type de photo du lot : crop (gros plan recadré) ou field (photo de terrain entière)',
      ),
  },
  objectFr('Requête invalide : un objet { speciesId, files, domain? } est attendu.'),
);

export const relabelTrainingImageRequest = z.strictObject(
  { imageId: trainingImageIdSchema, speciesId: knownSpeciesIdSchema },
  objectFr('Requête invalide : un objet { imageId, speciesId } est attendu.'),
);

export const deleteTrainingImageRequest = z.strictObject(
  { imageId: trainingImageIdSchema },
  objectFr('Requête invalide : un objet { imageId } est attendu.'),
);

export const startTrainingRunRequest = z
  .strictObject(
    {
      // Emulators only (ignored elsewhere): make the trainer crash at a phase, or shard it.
      simulateCrashAt: z.string().max(40).optional(),
      simulateTasks: z.int().min(1).max(8).optional(),
    },
    objectFr('Requête invalide : un objet vide est attendu.'),
  )
  .nullish();

/** Whether the review page preselected the proposed species (recorded with each decision). */
const preselectionSchema = z
  .boolean(fr('preselection est un booléen.'))
  .optional()
  .describe(
    'la page présélectionnait-elle l’espèce proposée ? (false : revue « sans présélection » ; vrai par défaut)',
  );

export const acceptReviewCandidateRequest = z.strictObject(
  {
    candidateId: candidateIdSchema,
    speciesId: knownSpeciesIdSchema.describe(
      'espèce retenue par l’administrateur (l’étiquette de la photo d’entraînement)',
    ),
    preselection: preselectionSchema,
  },
  objectFr('Requête invalide : un objet { candidateId, speciesId, preselection? } est attendu.'),
);

export const MAX_REVIEW_REASON_LENGTH = 200;

export const rejectReviewCandidateRequest = z.strictObject(
  {
    candidateId: candidateIdSchema,
    reason: z
      .string(fr('Indiquez la raison du refus.'))
      .trim()
      .min(1, fr('Indiquez la raison du refus.'))
      .max(
        MAX_REVIEW_REASON_LENGTH,
        fr(`La raison du refus tient en ${MAX_REVIEW_REASON_LENGTH} caractères au plus.`),
      )
      .describe('raison du refus, en français (montrée dans la file de vérification)'),
    preselection: preselectionSchema,
  },
  objectFr('Requête invalide : un objet { candidateId, reason, preselection? } est attendu.'),
);

export const undoReviewDecisionRequest = z.strictObject(
  { candidateId: candidateIdSchema.describe('candidat de la dernière décision de l’appelant') },
  objectFr('Requête invalide : un objet { candidateId } est attendu.'),
);

export const promoteModelRequest = z.strictObject(
  { version: modelVersionSchema },
  objectFr('Requête invalide : un objet { version } est attendu.'),
);

/** tryModel (admins): identify with any model of the registry, nothing stored. */
export function tryModelRequest(limits: { maxBytes: number }) {
  return z.strictObject(
    {
      version: modelVersionSchema.describe(
        'version du modèle à essayer (actif ou non, par exemple un candidat avant sa promotion)',
      ),
      photo: photoBase64Schema(limits.maxBytes),
      region: photoRegionSchema
        .nullish()
        .describe('cadre de l’empreinte (facultatif), comme pour identifyFootprint'),
      location: locationSchema.nullish(),
    },
    objectFr('Requête invalide : un objet { version, photo, region?, location? } est attendu.'),
  );
}

export const exportOfflineBundleRequest = z
  .strictObject(
    {
      version: modelVersionSchema
        .optional()
        .describe('version du modèle à exporter (par défaut : le modèle actif)'),
      force: z
        .boolean(fr('« force » doit valoir true ou false.'))
        .optional()
        .describe('reconstruire le paquet même s’il existe déjà'),
    },
    objectFr('Requête invalide : un objet { version?, force? } est attendu.'),
  )
  .nullish();

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/** Deepest nesting of objects and arrays a payload may have (ours need 3). */
export const MAX_PAYLOAD_DEPTH = 20;

const TOO_DEEP_FR = `Requête invalide : données imbriquées sur plus de ${MAX_PAYLOAD_DEPTH} niveaux.`;
const RESERVED_KEY_FR = 'Requête invalide : clé réservée (« __proto__ ») refusée.';
const TYPED_VALUE_FR =
  'Requête invalide : valeur typée (« @type ») non prise en charge, envoyez des nombres JSON.';

/** The callable protocol's own typed values: 64-bit integers sent as strings. */
const PROTOCOL_LONG_TYPES = new Set([
  'type.googleapis.com/google.protobuf.Int64Value',
  'type.googleapis.com/google.protobuf.UInt64Value',
]);

/** Every object and array of a JSON-like value with its depth (1 for the top), iteratively. */
function* containers(root: unknown): Generator<{ value: object; depth: number }> {
  const stack: { value: unknown; depth: number }[] = [{ value: root, depth: 1 }];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const { value, depth } = next;
    if (typeof value !== 'object' || value === null || Buffer.isBuffer(value)) continue;
    yield { value, depth };
    for (const child of Object.values(value)) stack.push({ value: child, depth: depth + 1 });
  }
}

/**
 * What is wrong with a callable body's `data` as the client sent it (plain JSON, before the
 * callable protocol decodes it), in French, or null. The protocol's decoder recurses without a
 * bound and throws on `@type` values it does not know, both before any of our code runs (a bare
 * `500 INTERNAL` with an error log), and turns a `__proto__` key into the payload's prototype:
 * the callables refuse all three first (functions/src/common/callable.ts). Iterative, so
 * any depth is measured without recursing.
 */
export function rawPayloadProblem(data: unknown): string | null {
  for (const { value, depth } of containers(data)) {
    if (depth > MAX_PAYLOAD_DEPTH) return TOO_DEEP_FR;
    if (Array.isArray(value)) continue;
    if (Object.hasOwn(value, '__proto__')) return RESERVED_KEY_FR;
    if (Object.hasOwn(value, '@type') && !isProtocolLong(value as Record<string, unknown>)) {
      return TYPED_VALUE_FR;
    }
  }
  return null;
}

/** `{ "@type": Int64Value, "value": "12" }`: what the protocol decodes into a number. */
function isProtocolLong(value: Record<string, unknown>): boolean {
  const type = value['@type'];
  return (
    typeof type === 'string' &&
    PROTOCOL_LONG_TYPES.has(type) &&
    typeof value.value === 'string' &&
    !Number.isNaN(parseFloat(value.value))
  );
}

/**
 * What is wrong with decoded data (the shape our handlers receive), or null: too deep, or an
 * object whose prototype is not a plain object's (the callable protocol decodes
 * `{"__proto__": {…}}` by assignment, which makes `{…}` the prototype of the payload and its
 * fields readable as if they had been sent).
 */
function decodedPayloadProblem(data: unknown): string | null {
  for (const { value, depth } of containers(data)) {
    if (depth > MAX_PAYLOAD_DEPTH) return TOO_DEEP_FR;
    if (Array.isArray(value)) continue;
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return RESERVED_KEY_FR;
  }
  return null;
}

/**
 * French message for issues our schemas do not word themselves (zod's own are English):
 * per-parse error map, used only where a schema gives no message of its own.
 */
function fallbackMessage(issue: { code?: string; path?: PropertyKey[]; keys?: string[] }): string {
  if (issue.code === 'unrecognized_keys') {
    return `Champ inconnu : « ${(issue.keys ?? []).map((k) => k.slice(0, 40)).join(', ')} ».`;
  }
  const path = (issue.path ?? []).map(String).join('.');
  if (!path) return 'Requête invalide : un objet est attendu.';
  return `Champ « ${path.slice(0, 60)} » invalide.`;
}

/** Validates client input: the parsed value, or `invalid-argument` with a French message. */
export function parseInput<S extends z.ZodType>(schema: S, data: unknown): z.output<S> {
  const problem = decodedPayloadProblem(data);
  if (problem) fail('invalid-argument', problem);
  const result = schema.safeParse(data, { error: fallbackMessage });
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) fail('invalid-argument', 'Requête invalide.');
  // Type issues carry no params: the missing photo gets its reason from its message.
  const reason =
    (issue as { params?: { reason?: unknown } }).params?.reason ??
    (issue.message === MISSING_PHOTO ? 'empty' : undefined);
  fail('invalid-argument', issue.message, typeof reason === 'string' ? { reason } : undefined);
}

/**
 * Every callable's input schema, by function name (identifyFootprint with the default photo
 * limit). The docs' field tables and the fuzz suite are generated from this list, and a unit
 * test fails when a callable is exported without an entry here.
 */
export function callableInputs(
  options: { maxBytes?: number; now?: () => Date } = {},
): Record<string, z.ZodType> {
  const maxBytes = options.maxBytes ?? 10 * 1024 * 1024;
  const now = options.now ?? (() => new Date());
  return {
    identifyFootprint: identifyFootprintRequest({ maxBytes }, now),
    listObservations: listObservationsRequest,
    getObservation: observationRequest,
    deleteObservation: observationRequest,
    setObservationFeedback: observationFeedbackRequest,
    setObservationShare: observationShareRequest,
    refineObservation: refineObservationRequest,
    addObservationPhoto: addObservationPhotoRequest({ maxBytes }),
    listSpecies: noParameters,
    getSpecies: speciesRequest,
    getOfflineBundle: noParameters,
    syncOfflineObservations: syncOfflineObservationsRequest({ maxBytes }, now),
    createUploadUrls: createUploadUrlsRequest,
    relabelTrainingImage: relabelTrainingImageRequest,
    deleteTrainingImage: deleteTrainingImageRequest,
    startTrainingRun: startTrainingRunRequest,
    promoteModel: promoteModelRequest,
    rollbackModel: noParameters,
    acceptReviewCandidate: acceptReviewCandidateRequest,
    rejectReviewCandidate: rejectReviewCandidateRequest,
    undoReviewDecision: undoReviewDecisionRequest,
    getDatasetStats: noParameters,
    getTrainingBacklog: noParameters,
    exportOfflineBundle: exportOfflineBundleRequest,
    tryModel: tryModelRequest({ maxBytes }),
  };
}
