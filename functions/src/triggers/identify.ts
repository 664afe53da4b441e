import { onCall, onRequest } from 'firebase-functions/https';
import { projectID } from 'firebase-functions/params';
import { ENFORCE_APP_CHECK, FUNCTIONS_REGION, config } from '../config.js';
import { accountState, appCheck, auth, defaultBucket, firestore } from '../firebase.js';
import { guarded } from '../common/errors.js';
import { callerOf, requireLiveCaller, type Caller } from '../common/caller.js';
import { modelEngine } from '../engine/instance.js';
import { identifyParams } from '../engine/params.js';
import {
  cachedSpeciesLookup,
  identifyFootprint as identifyHandler,
  parseIdentifyRequest,
  type IdentifyDeps,
} from '../handlers/identify.js';
import { InstanceCeiling, consumeIdentifyBudget } from '../handlers/rate-limit.js';
import { allowedOrigins, handleIdentifyRequest } from '../http/identify-endpoint.js';

const speciesLookup = cachedSpeciesLookup(firestore);

function identifyDeps(): IdentifyDeps {
  return {
    db: firestore(),
    bucket: defaultBucket(),
    engine: modelEngine(),
    limits: {
      maxBytes: identifyParams.maxImageBytes(),
      maxPixels: config.maxInputPixels.value(),
      minSide: config.minImageSide.value(),
      photoMaxSide: identifyParams.photoMaxSide(),
    },
    now: () => new Date(),
    species: speciesLookup,
  };
}

// This instance's share of the global ceiling (created on first use: params have no value
// while the deploy analyses this module).
let ceiling: InstanceCeiling | undefined;

/** Instance ceiling, then the caller's quota: before any body parsing, decoding or model. */
function consumeBudget(caller: Caller): Promise<void> {
  ceiling ??= new InstanceCeiling(config.identifyInstancePerMinute.value());
  return consumeIdentifyBudget(caller, {
    db: firestore(),
    now: new Date(),
    ceiling,
    policy: {
      signedIn: {
        perMinute: config.identifyPerMinute.value(),
        perDay: config.identifyPerDay.value(),
      },
      anonymous: {
        perMinute: config.identifyAnonymousPerMinute.value(),
        perDay: config.identifyAnonymousPerDay.value(),
      },
    },
  });
}

/**
 * One model per instance (2 GiB), shared by up to 8 concurrent requests; at most
 * WILDLENS_IDENTIFY_MAX_INSTANCES instances, which times the per-instance ceiling bounds the
 * whole service however many accounts call it.
 */
const IDENTIFY_OPTIONS = {
  region: FUNCTIONS_REGION,
  memory: '2GiB',
  timeoutSeconds: 60,
  concurrency: 8,
  maxInstances: config.identifyMaxInstances,
} as const;

export const identifyFootprint = onCall(
  { ...IDENTIFY_OPTIONS, enforceAppCheck: ENFORCE_APP_CHECK },
  (request) =>
    guarded('identify', async () => {
      // The account must still exist (a deleted account's token lives up to an hour).
      const caller = await requireLiveCaller(request.auth, accountState);
      await consumeBudget(caller);
      const deps = identifyDeps();
      const input = parseIdentifyRequest(request.data, deps.now(), deps.limits.maxBytes);
      return identifyHandler(caller, input, deps);
    }),
);

/** POST /identify (multipart) for clients without the callable protocol; also /api/identify on Hosting. */
// cors: false turns off the framework's CORS layer (the emulator enables it for every origin):
// the handler answers CORS itself, for the hosting origins only.
// onRequest has no enforceAppCheck option (callables only): the handler checks the
// X-Firebase-AppCheck header itself when ENFORCE_APP_CHECK is on.
export const identify = onRequest({ ...IDENTIFY_OPTIONS, cors: false }, (req, res) =>
  handleIdentifyRequest(req, res, {
    verifyAppCheckToken: ENFORCE_APP_CHECK ? (token) => appCheck().verifyToken(token) : null,
    verifyIdToken: async (token) => {
      // checkRevoked: a deleted, disabled or revoked account's token is refused. The decoded
      // token holds the claims at its top level (firebase.sign_in_provider…).
      const decoded = await auth().verifyIdToken(token, true);
      return callerOf({ uid: decoded.uid, token: decoded });
    },
    consumeQuota: consumeBudget,
    identify: (caller, input) => identifyHandler(caller, input, identifyDeps()),
    maxBytes: identifyParams.maxImageBytes(),
    allowedOrigins: allowedOrigins(projectID.value(), process.env.FUNCTIONS_EMULATOR === 'true'),
    now: () => new Date(),
  }),
);
