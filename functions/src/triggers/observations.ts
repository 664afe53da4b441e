import { onCall } from 'firebase-functions/https';
import { onSchedule } from 'firebase-functions/scheduler';
import { ENFORCE_APP_CHECK, FUNCTIONS_REGION, config } from '../config.js';
import { accountState, defaultBucket, firestore } from '../firebase.js';
import { listObservations as listObservationsHandler } from '../handlers/observations.js';
import { guarded } from '../common/errors.js';
import { requireLiveCaller, type VerifiedAuth } from '../common/caller.js';
import {
  deleteObservation as deleteObservationHandler,
  getObservation as getObservationHandler,
  purgeAnonymousObservations as purgeAnonymousObservationsHandler,
  setObservationFeedback as setObservationFeedbackHandler,
  setObservationShare as setObservationShareHandler,
} from '../handlers/observation-actions.js';

/**
 * The caller's uid once Auth confirms the account still exists and the session was not
 * revoked: a deleted account's token (valid up to an hour) reads and writes nothing.
 */
const liveUid = async (auth: VerifiedAuth | undefined): Promise<string> =>
  (await requireLiveCaller(auth, accountState)).uid;

export const listObservations = onCall(
  { region: FUNCTIONS_REGION, enforceAppCheck: ENFORCE_APP_CHECK },
  (request) =>
    guarded('observations.list', async () =>
      listObservationsHandler(await liveUid(request.auth), request.data, { db: firestore() }),
    ),
);

// Single-observation actions (issue #4): read, delete (record + photo + thumbnail), feedback.
export const getObservation = onCall(
  { region: FUNCTIONS_REGION, enforceAppCheck: ENFORCE_APP_CHECK },
  (request) =>
    guarded('observations.get', async () =>
      getObservationHandler(await liveUid(request.auth), request.data, { db: firestore() }),
    ),
);

export const deleteObservation = onCall(
  { region: FUNCTIONS_REGION, enforceAppCheck: ENFORCE_APP_CHECK },
  (request) =>
    guarded('observations.delete', async () =>
      deleteObservationHandler(await liveUid(request.auth), request.data, {
        db: firestore(),
        bucket: defaultBucket(),
        now: () => new Date(),
      }),
    ),
);

export const setObservationFeedback = onCall(
  { region: FUNCTIONS_REGION, enforceAppCheck: ENFORCE_APP_CHECK },
  (request) =>
    guarded('observations.feedback', async () =>
      setObservationFeedbackHandler(await liveUid(request.auth), request.data, {
        db: firestore(),
        bucket: defaultBucket(),
        now: () => new Date(),
      }),
    ),
);

export const setObservationShare = onCall(
  { region: FUNCTIONS_REGION, enforceAppCheck: ENFORCE_APP_CHECK },
  (request) =>
    guarded('observations.share', async () =>
      setObservationShareHandler(await liveUid(request.auth), request.data, {
        db: firestore(),
        bucket: defaultBucket(),
        now: () => new Date(),
      }),
    ),
);

/** Anonymous accounts' observations and photos are erased after WILDLENS_ANONYMOUS_RETENTION_DAYS. */
export const purgeAnonymousObservations = onSchedule(
  { region: FUNCTIONS_REGION, schedule: 'every day 03:00', timeZone: 'UTC', timeoutSeconds: 540 },
  async () => {
    await purgeAnonymousObservationsHandler({
      db: firestore(),
      bucket: defaultBucket(),
      now: () => new Date(),
      retentionDays: config.anonymousRetentionDays.value(),
    });
  },
);
