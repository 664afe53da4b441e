import { onRequest } from 'firebase-functions/https';
import * as logger from 'firebase-functions/logger';
import { FUNCTIONS_REGION } from '../config.js';
import { firestore } from '../firebase.js';
import { buildHealthReport } from '../handlers/health.js';
import { engineStatus } from '../common/engine-status.js';
import { FUNCTIONS_VERSION } from '../common/version.js';

export const health = onRequest({ region: FUNCTIONS_REGION, cors: true }, async (req, res) => {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.status(405).set('Allow', 'GET, HEAD').json({ error: 'Méthode non autorisée.' });
    return;
  }
  // The TensorFlow backend this instance would identify with (initialised once, cached).
  const backend = await import('@wildlens/model')
    .then(({ initBackend }) => initBackend())
    .then(
      (info) => `${info.name}${info.simd ? ' (SIMD)' : ''}`,
      () => 'indisponible',
    );
  const report = await buildHealthReport({
    db: firestore(),
    version: FUNCTIONS_VERSION,
    env: process.env,
    now: () => new Date(),
    engine: () => ({
      loadedVersion: engineStatus().loadedVersion,
      backend: engineStatus().backend ?? backend,
    }),
  });
  logger.debug('health.report', { status: report.status });
  res
    .status(report.status === 'ok' ? 200 : 503)
    .set('Cache-Control', 'no-store')
    .json(report);
});
