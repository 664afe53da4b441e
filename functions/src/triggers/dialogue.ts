import { onCall } from '../common/callable.js';
import { ENFORCE_APP_CHECK } from '../config.js';
import { accountState } from '../firebase.js';
import { guarded } from '../common/errors.js';
import { requireLiveCaller } from '../common/caller.js';
import {
  addObservationPhoto as addObservationPhotoHandler,
  refineObservation as refineObservationHandler,
  type DialogueDeps,
} from '../handlers/dialogue.js';
import { IDENTIFY_OPTIONS, consumeBudget, identifyDeps } from './identify.js';

/** What identification uses (the model, the photo limits), plus the budget for model passes. */
const dialogueDeps = (): DialogueDeps => ({ ...identifyDeps(), consumeBudget });

// Both may run the model (a new framing, an added photo): the identification functions'
// memory, concurrency and instance cap apply.
export const refineObservation = onCall(
  { ...IDENTIFY_OPTIONS, enforceAppCheck: ENFORCE_APP_CHECK },
  (request) =>
    guarded('observations.refine', async () =>
      refineObservationHandler(
        await requireLiveCaller(request.auth, accountState),
        request.data,
        dialogueDeps(),
      ),
    ),
);

export const addObservationPhoto = onCall(
  { ...IDENTIFY_OPTIONS, enforceAppCheck: ENFORCE_APP_CHECK },
  (request) =>
    guarded('observations.add_photo', async () =>
      addObservationPhotoHandler(
        await requireLiveCaller(request.auth, accountState),
        request.data,
        dialogueDeps(),
      ),
    ),
);
