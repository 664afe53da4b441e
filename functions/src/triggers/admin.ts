import { onCall } from '../common/callable.js';
import { onSchedule } from 'firebase-functions/scheduler';
import { FUNCTIONS_REGION, config } from '../config.js';
import { speciesIds } from '@wildlens/shared';
import { accountEmails, accountState, defaultBucket, firestore } from '../firebase.js';
import { guarded } from '../common/errors.js';
import { requireCurrentAdmin, type AuthContext } from '../common/admin-auth.js';
import { createUploadUrls as createUploadUrlsHandler } from '../handlers/admin/uploads.js';
import {
  deleteTrainingImage as deleteTrainingImageHandler,
  relabelTrainingImage as relabelTrainingImageHandler,
} from '../handlers/admin/images.js';
import {
  autoRetrain,
  getTrainingBacklog as getTrainingBacklogHandler,
  reapStaleRuns,
  startTrainingRun as startTrainingRunHandler,
} from '../handlers/admin/training.js';
import {
  acceptReviewCandidate as acceptReviewCandidateHandler,
  rejectReviewCandidate as rejectReviewCandidateHandler,
} from '../handlers/review.js';
import { undoReviewDecision as undoReviewDecisionHandler } from '../handlers/review-undo.js';
import { getDatasetStats as getDatasetStatsHandler } from '../handlers/admin/dataset-stats.js';
import {
  promoteModel as promoteModelHandler,
  rollbackModel as rollbackModelHandler,
} from '../handlers/admin/models.js';
import { exportOfflineBundleOnDemand } from '../handlers/offline-bundle.js';
import {
  CloudRunJobLauncher,
  LocalProcessLauncher,
  defaultBucketName,
  findRepoRoot,
  isEmulated,
  type TrainingLauncher,
} from '../training/launcher.js';

const now = (): Date => new Date();

/** The admin's uid, after checking the claim and the account's current state (revocation). */
const requireAdmin = (auth: AuthContext | undefined) => requireCurrentAdmin(auth, accountState);
const staleness = () => ({
  heartbeatTimeoutMs: config.trainerHeartbeatTimeoutSeconds.value() * 1000,
  queuedTimeoutMs: config.trainerQueuedTimeoutSeconds.value() * 1000,
});

async function launcher(): Promise<TrainingLauncher> {
  if (isEmulated()) {
    const bucket = defaultBucketName();
    return new LocalProcessLauncher({
      repoRoot: findRepoRoot(),
      env: { ...process.env, ...(bucket ? { WILDLENS_STORAGE_BUCKET: bucket } : {}) },
      taskCount: config.localTrainerTasks.value(),
      backbone: config.trainerBackbone.value(),
    });
  }
  // Loaded lazily: the Run client is heavy and only startTrainingRun needs it.
  const { JobsClient } = await import('@google-cloud/run');
  const projectId = process.env.GCLOUD_PROJECT ?? process.env.GOOGLE_CLOUD_PROJECT ?? '';
  return new CloudRunJobLauncher(new JobsClient(), {
    projectId,
    region: config.trainerJobRegion.value(),
    jobName: config.trainerJobName.value(),
    backbone: config.trainerBackbone.value(),
  });
}

export const createUploadUrls = onCall({ region: FUNCTIONS_REGION }, (request) =>
  guarded('admin.upload_urls', async () =>
    createUploadUrlsHandler(await requireAdmin(request.auth), request.data, {
      bucket: defaultBucket(),
      maxBytes: config.maxUploadBytes.value(),
      origin: request.rawRequest.headers.origin,
    }),
  ),
);

export const relabelTrainingImage = onCall({ region: FUNCTIONS_REGION }, (request) =>
  guarded('admin.relabel', async () =>
    relabelTrainingImageHandler(await requireAdmin(request.auth), request.data, {
      db: firestore(),
      bucket: defaultBucket(),
      now,
    }),
  ),
);

export const deleteTrainingImage = onCall({ region: FUNCTIONS_REGION }, (request) =>
  guarded('admin.delete_image', async () =>
    deleteTrainingImageHandler(await requireAdmin(request.auth), request.data, {
      db: firestore(),
      bucket: defaultBucket(),
      now,
    }),
  ),
);

export const startTrainingRun = onCall({ region: FUNCTIONS_REGION }, (request) =>
  guarded('admin.start_training', async () =>
    startTrainingRunHandler(await requireAdmin(request.auth), request.data, {
      db: firestore(),
      launcher: await launcher(),
      now,
      staleness: staleness(),
      allowDebug: isEmulated(),
    }),
  ),
);

export const promoteModel = onCall({ region: FUNCTIONS_REGION }, (request) =>
  guarded('admin.promote_model', async () =>
    promoteModelHandler(await requireAdmin(request.auth), request.data, { db: firestore(), now }),
  ),
);

export const rollbackModel = onCall({ region: FUNCTIONS_REGION }, (request) =>
  guarded('admin.rollback_model', async () =>
    rollbackModelHandler(await requireAdmin(request.auth), request.data, { db: firestore(), now }),
  ),
);

export const getTrainingBacklog = onCall({ region: FUNCTIONS_REGION }, (request) =>
  guarded('admin.training_backlog', async () => {
    await requireAdmin(request.auth);
    return getTrainingBacklogHandler(request.data, {
      db: firestore(),
      autoRetrainMinNew: config.autoRetrainMinNew.value(),
    });
  }),
);

export const acceptReviewCandidate = onCall({ region: FUNCTIONS_REGION }, (request) =>
  guarded('admin.review_accept', async () =>
    acceptReviewCandidateHandler(await requireAdmin(request.auth), request.data, {
      db: firestore(),
      bucket: defaultBucket(),
      now,
    }),
  ),
);

export const rejectReviewCandidate = onCall({ region: FUNCTIONS_REGION }, (request) =>
  guarded('admin.review_reject', async () =>
    rejectReviewCandidateHandler(await requireAdmin(request.auth), request.data, {
      db: firestore(),
      now,
    }),
  ),
);

export const undoReviewDecision = onCall({ region: FUNCTIONS_REGION }, (request) =>
  guarded('admin.review_undo', async () =>
    undoReviewDecisionHandler(await requireAdmin(request.auth), request.data, {
      db: firestore(),
      bucket: defaultBucket(),
      now,
    }),
  ),
);

export const getDatasetStats = onCall({ region: FUNCTIONS_REGION }, (request) =>
  guarded('admin.dataset_stats', async () => {
    await requireAdmin(request.auth);
    return getDatasetStatsHandler(request.data, {
      db: firestore(),
      speciesIds: speciesIds(),
      reviewerEmails: accountEmails,
    });
  }),
);

/** Retrains once WILDLENS_AUTO_RETRAIN_MIN_NEW new images arrived since the active model. */
export const autoRetrainModel = onSchedule(
  { region: FUNCTIONS_REGION, schedule: 'every 60 minutes' },
  async () => {
    await autoRetrain({
      db: firestore(),
      launcher: await launcher(),
      now,
      staleness: staleness(),
      minNew: config.autoRetrainMinNew.value(),
    });
  },
);

/** A trainer that died (OOM, preemption, crash before its catch) never stays "running". */
export const reapStaleTrainingRuns = onSchedule(
  { region: FUNCTIONS_REGION, schedule: 'every 5 minutes' },
  async () => {
    await reapStaleRuns({ db: firestore(), now, staleness: staleness() });
  },
);

export const exportOfflineBundle = onCall(
  { region: FUNCTIONS_REGION, memory: '1GiB', timeoutSeconds: 300 },
  (request) =>
    guarded('admin.offline_bundle_export', async () =>
      exportOfflineBundleOnDemand(await requireAdmin(request.auth), request.data, {
        db: firestore(),
        bucket: defaultBucket(),
      }),
    ),
);
