import { onCall } from 'firebase-functions/https';
import { onSchedule } from 'firebase-functions/scheduler';
import { ENFORCE_APP_CHECK, FUNCTIONS_REGION, config } from '../config.js';
import { defaultBucket, firestore } from '../firebase.js';
import { listObservations as listObservationsHandler } from '../handlers/observations.js';
import { guarded, requireAuth } from '../common/errors.js';
import {
  deleteObservation as deleteObservationHandler,
  getObservation as getObservationHandler,
  purgeAnonymousObservations as purgeAnonymousObservationsHandler,
  setObservationFeedback as setObservationFeedbackHandler,
  setObservationShare as setObservationShareHandler,
} from '../handlers/observation-actions.js';

export const listObservations = onCall(
  { region: FUNCTIONS_REGION, enforceAppCheck: ENFORCE_APP_CHECK },
  (request) =>
    guarded('observations.list', () =>
      listObservationsHandler(requireAuth(request.auth), request.data, { db: firestore() }),
    ),
);

// Single-observation actions (issue #4): read, delete (record + photo + thumbnail), feedback.
export const getObservation = onCall(
  { region: FUNCTIONS_REGION, enforceAppCheck: ENFORCE_APP_CHECK },
  (request) =>
    guarded('observations.get', () =>
      getObservationHandler(requireAuth(request.auth), request.data, { db: firestore() }),
    ),
);

export const deleteObservation = onCall(
  { region: FUNCTIONS_REGION, enforceAppCheck: ENFORCE_APP_CHECK },
  (request) =>
    guarded('observations.delete', () =>
      deleteObservationHandler(requireAuth(request.auth), request.data, {
        db: firestore(),
        bucket: defaultBucket(),
        now: () => new Date(),
      }),
    ),
);

export const setObservationFeedback = onCall(
  { region: FUNCTIONS_REGION, enforceAppCheck: ENFORCE_APP_CHECK },
  (request) =>
    guarded('observations.feedback', () =>
      setObservationFeedbackHandler(requireAuth(request.auth), request.data, {
        db: firestore(),
        bucket: defaultBucket(),
        now: () => new Date(),
      }),
    ),
);

export const setObservationShare = onCall(
  { region: FUNCTIONS_REGION, enforceAppCheck: ENFORCE_APP_CHECK },
  (request) =>
    guarded('observations.share', () =>
      setObservationShareHandler(requireAuth(request.auth), request.data, {
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
