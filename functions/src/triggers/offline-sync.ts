import { onCall } from '../common/callable.js';
import { ENFORCE_APP_CHECK } from '../config.js';
import { accountState } from '../firebase.js';
import { guarded } from '../common/errors.js';
import { requireLiveCaller } from '../common/caller.js';
import { syncOfflineObservations as syncHandler } from '../handlers/offline-sync.js';
import { IDENTIFY_OPTIONS, consumeBudget, identifyDeps } from './identify.js';

// Up to 20 model passes in one call: the identification functions' memory, concurrency and
// instance cap, with the time 20 photos take on a cold instance.
export const syncOfflineObservations = onCall(
  { ...IDENTIFY_OPTIONS, timeoutSeconds: 300, enforceAppCheck: ENFORCE_APP_CHECK },
  (request) =>
    guarded('offline_sync', async () =>
      syncHandler(await requireLiveCaller(request.auth, accountState), request.data, {
        ...identifyDeps(),
        consumeBudget,
      }),
    ),
);
