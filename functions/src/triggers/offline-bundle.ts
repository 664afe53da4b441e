import { onCall } from '../common/callable.js';
import { onDocumentWritten } from 'firebase-functions/firestore';
import { ENFORCE_APP_CHECK, FUNCTIONS_REGION } from '../config.js';
import { accountState, defaultBucket, firestore } from '../firebase.js';
import { guarded } from '../common/errors.js';
import { requireLiveCaller } from '../common/caller.js';
import {
  exportActiveOfflineBundle,
  getOfflineBundle as getOfflineBundleHandler,
  type OfflineBundleDeps,
} from '../handlers/offline-bundle.js';

const deps = (): OfflineBundleDeps => ({ db: firestore(), bucket: defaultBucket() });

/** Any change of the active model (promotion by the trainer or an admin, rollback). */
export const exportActiveModelBundle = onDocumentWritten(
  {
    document: 'config/activeModel',
    region: FUNCTIONS_REGION,
    retry: true,
    memory: '1GiB',
    timeoutSeconds: 300,
  },
  async (event) => {
    await exportActiveOfflineBundle(event.data?.after.data(), deps());
  },
);

export const getOfflineBundle = onCall(
  { region: FUNCTIONS_REGION, enforceAppCheck: ENFORCE_APP_CHECK },
  (request) =>
    guarded('offline_bundle.get', async () =>
      getOfflineBundleHandler(
        (await requireLiveCaller(request.auth, accountState)).uid,
        request.data,
        deps(),
      ),
    ),
);
