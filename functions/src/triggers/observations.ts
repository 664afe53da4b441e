import { onCall } from 'firebase-functions/https';
import { FUNCTIONS_REGION } from '../config.js';
import { firestore } from '../firebase.js';
import { listObservations as listObservationsHandler } from '../handlers/observations.js';
import { guarded, requireAuth } from '../common/errors.js';

export const listObservations = onCall({ region: FUNCTIONS_REGION }, (request) =>
  guarded('observations.list', () =>
    listObservationsHandler(requireAuth(request.auth), request.data, { db: firestore() }),
  ),
);
