import * as logger from 'firebase-functions/logger';
import { defineInt, defineString } from 'firebase-functions/params';

/**
 * Every tunable of the backend, declared once as Firebase params (set per project in
 * functions/.env.<projectId> or prompted at deploy). Read `.value()` inside handlers only:
 * params have no value at module load time during deploy analysis.
 */
export const config = {
  maxUploadBytes: defineInt('WILDLENS_MAX_UPLOAD_BYTES', {
    default: 20 * 1024 * 1024,
    description: "Taille maximale d'un fichier d'entraînement déposé (octets).",
  }),
  maxInputPixels: defineInt('WILDLENS_MAX_INPUT_PIXELS', {
    default: 40_000_000,
    description: "Nombre maximal de pixels d'une image en entrée (protection anti-bombe).",
  }),
  minImageSide: defineInt('WILDLENS_MIN_IMAGE_SIDE', {
    default: 64,
    description: "Plus petit côté accepté d'une image (pixels).",
  }),
  trainingMaxSide: defineInt('WILDLENS_TRAINING_MAX_SIDE', {
    default: 1024,
    description: "Plus grand côté d'une image d'entraînement normalisée (pixels).",
  }),
  trainerJobName: defineString('WILDLENS_TRAINER_JOB', {
    default: 'wildlens-trainer',
    description: "Nom de la tâche Cloud Run (job) qui exécute l'entraînement.",
  }),
  trainerJobRegion: defineString('WILDLENS_TRAINER_REGION', {
    default: 'europe-west1',
    description: 'Région de la tâche Cloud Run d’entraînement.',
  }),
  trainerBackbone: defineString('WILDLENS_TRAINER_BACKBONE', {
    default: 'auto',
    description:
      'Backbone des entraînements : auto, un identifiant, ou un modèle tfjs par URL (entre apostrophes dans un .env, voir packages/model/README.md).',
  }),
  trainerHeartbeatTimeoutSeconds: defineInt('WILDLENS_TRAINER_HEARTBEAT_TIMEOUT_SECONDS', {
    default: 120,
    description: 'Délai sans battement de cœur après lequel un entraînement est déclaré en échec.',
  }),
  trainerQueuedTimeoutSeconds: defineInt('WILDLENS_TRAINER_QUEUED_TIMEOUT_SECONDS', {
    default: 300,
    description: 'Délai maximal entre la demande et le démarrage effectif d’un entraînement.',
  }),
  localTrainerTasks: defineInt('WILDLENS_LOCAL_TRAINER_TASKS', {
    default: 1,
    description: 'Émulateurs : nombre de processus (tâches) du même entraînement local.',
  }),
  identifyPerMinute: defineInt('WILDLENS_IDENTIFY_PER_MINUTE', {
    default: 30,
    description: 'Identifications autorisées par utilisateur et par minute.',
  }),
  identifyPerDay: defineInt('WILDLENS_IDENTIFY_PER_DAY', {
    default: 500,
    description: 'Identifications autorisées par utilisateur et par jour (UTC).',
  }),
  identifyAnonymousPerMinute: defineInt('WILDLENS_IDENTIFY_ANONYMOUS_PER_MINUTE', {
    default: 5,
    description: 'Identifications autorisées par compte anonyme et par minute.',
  }),
  identifyAnonymousPerDay: defineInt('WILDLENS_IDENTIFY_ANONYMOUS_PER_DAY', {
    default: 30,
    description: 'Identifications autorisées par compte anonyme et par jour (UTC).',
  }),
  identifyInstancePerMinute: defineInt('WILDLENS_IDENTIFY_INSTANCE_PER_MINUTE', {
    default: 120,
    description:
      'Identifications par minute et par instance, tous utilisateurs confondus (plafond global = × instances).',
  }),
  identifyMaxInstances: defineInt('WILDLENS_IDENTIFY_MAX_INSTANCES', {
    default: 10,
    description: 'Nombre maximal d’instances de identifyFootprint et de identify (chacune).',
  }),
  anonymousRetentionDays: defineInt('WILDLENS_ANONYMOUS_RETENTION_DAYS', {
    default: 30,
    description:
      'Jours de conservation des observations des comptes anonymes (photos, candidats et copies d’entraînement compris) avant effacement.',
  }),
  autoRetrainMinNew: defineInt('WILDLENS_AUTO_RETRAIN_MIN_NEW', {
    default: 0,
    description:
      'Réentraînement planifié : nombre de nouvelles images depuis le modèle actif qui déclenche un entraînement (0 : désactivé).',
  }),
} as const;

/**
 * Region of every function, close to French-speaking users. A constant, not a param: trigger
 * options need it at definition time and clients hard-code it too.
 */
export const FUNCTIONS_REGION = 'europe-west1';

/** What the App Check flag's raw value means, and why when it was not a plain true or false. */
export interface AppCheckFlag {
  enforce: boolean;
  /** Set when the value could not be read as true or false (App Check then stays on). */
  unreadable?: string;
}

/**
 * Reads WILDLENS_ENFORCE_APP_CHECK failing closed: only an explicit `false` (any case, spaces
 * trimmed) turns App Check off. `true` keeps it on, and so does anything else: unset (as while
 * the CLI analyses the functions, before .env files apply) silently, and any other value (empty,
 * a typo) reported, so that the log says why enforcement is on.
 */
export function parseAppCheckFlag(raw: string | undefined): AppCheckFlag {
  const value = raw?.trim().toLowerCase();
  if (value === undefined || value === 'true') return { enforce: true };
  if (value === 'false') return { enforce: false };
  return { enforce: true, unreadable: JSON.stringify(raw) };
}

/**
 * App Check on the app-facing functions (identifyFootprint, the history callables, and POST
 * /identify, which checks the X-Firebase-AppCheck header itself: onRequest has no such option).
 * On in production (functions/.env), off for the emulators' demo project
 * (functions/.env.demo-wildlens), whose clients have no App Check provider. A real project may
 * switch it off in functions/.env.<projectId> (not advised: it is what keeps scripted clients
 * from minting anonymous accounts in bulk). Read at load time because trigger options take a
 * plain boolean; Firebase loads .env files before that.
 */
export const APP_CHECK_FLAG = parseAppCheckFlag(process.env.WILDLENS_ENFORCE_APP_CHECK);
if (APP_CHECK_FLAG.unreadable !== undefined) {
  logger.warn('config.app_check_flag_unreadable', {
    value: APP_CHECK_FLAG.unreadable,
    enforced: true,
    message: 'WILDLENS_ENFORCE_APP_CHECK doit valoir true ou false : App Check reste exigé.',
  });
}
export const ENFORCE_APP_CHECK = APP_CHECK_FLAG.enforce;
