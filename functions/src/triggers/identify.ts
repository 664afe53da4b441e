import { onCall, onRequest } from 'firebase-functions/https';
import { projectID } from 'firebase-functions/params';
import { getApps, initializeApp } from 'firebase-admin/app';
import { getAuth } from 'firebase-admin/auth';
import { ENFORCE_APP_CHECK, FUNCTIONS_REGION, config } from '../config.js';
import { defaultBucket, firestore } from '../firebase.js';
import { guarded, requireAuth } from '../common/errors.js';
import { modelEngine } from '../engine/instance.js';
import { identifyParams } from '../engine/params.js';
import {
  cachedSpeciesLookup,
  identifyFootprint as identifyHandler,
  parseIdentifyRequest,
  type IdentifyDeps,
} from '../handlers/identify.js';
import { consumeIdentifyQuota } from '../handlers/rate-limit.js';
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
    rateLimit: (uid) =>
      consumeIdentifyQuota(firestore(), uid, new Date(), {
        perMinute: config.identifyPerMinute.value(),
        perDay: config.identifyPerDay.value(),
      }),
  };
}

/** One model per instance (2 GiB), shared by up to 8 concurrent requests. */
const IDENTIFY_OPTIONS = {
  region: FUNCTIONS_REGION,
  memory: '2GiB',
  timeoutSeconds: 60,
  concurrency: 8,
} as const;

export const identifyFootprint = onCall(
  { ...IDENTIFY_OPTIONS, enforceAppCheck: ENFORCE_APP_CHECK },
  (request) =>
    guarded('identify', () => {
      const uid = requireAuth(request.auth);
      const deps = identifyDeps();
      const input = parseIdentifyRequest(request.data, deps.now(), deps.limits.maxBytes);
      return identifyHandler(uid, input, deps);
    }),
);

/** POST /identify (multipart) for clients without the callable protocol; also /api/identify on Hosting. */
// cors: false turns off the framework's CORS layer (the emulator enables it for every origin):
// the handler answers CORS itself, for the hosting origins only.
export const identify = onRequest({ ...IDENTIFY_OPTIONS, cors: false }, (req, res) =>
  handleIdentifyRequest(req, res, {
    verifyIdToken: async (token) =>
      (await getAuth(getApps()[0] ?? initializeApp()).verifyIdToken(token)).uid,
    identify: (uid, input) => identifyHandler(uid, input, identifyDeps()),
    maxBytes: identifyParams.maxImageBytes(),
    allowedOrigins: allowedOrigins(projectID.value(), process.env.FUNCTIONS_EMULATOR === 'true'),
    now: () => new Date(),
  }),
);
