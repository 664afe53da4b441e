import { onCall } from '../common/callable.js';
import { FUNCTIONS_REGION, config } from '../config.js';
import { accountState, firestore } from '../firebase.js';
import { guarded } from '../common/errors.js';
import { requireCurrentAdmin } from '../common/admin-auth.js';
import { identifyParams } from '../engine/params.js';
import { loadServingModel } from '../engine/instance.js';
import { ModelCache } from '../engine/model-cache.js';
import { cachedSpeciesLookup } from '../handlers/identify.js';
import { tryModel as tryModelHandler } from '../handlers/admin/try-model.js';

const speciesLookup = cachedSpeciesLookup(firestore);
// Created on first use: two tried versions per instance at most, beside nothing else.
let models: ModelCache | undefined;

/** Admins identify a photo with any model of the registry (the try page), nothing stored. */
export const tryModel = onCall(
  { region: FUNCTIONS_REGION, memory: '2GiB', timeoutSeconds: 120, maxInstances: 2 },
  (request) =>
    guarded('admin.try_model', async () => {
      const uid = await requireCurrentAdmin(request.auth, accountState);
      models ??= new ModelCache({
        load: (pointer) => loadServingModel(pointer),
        capacity: 2,
        disposeDelayMs: 120_000,
      });
      return tryModelHandler(uid, request.data, {
        db: firestore(),
        models,
        limits: {
          maxBytes: identifyParams.maxImageBytes(),
          maxPixels: config.maxInputPixels.value(),
          minSide: config.minImageSide.value(),
        },
        species: speciesLookup,
      });
    }),
);
