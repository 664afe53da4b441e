/**
 * App Check as deployed (issue 20, finding 1): the exported functions, built with the flag as
 * functions/.env sets it, driven through firebase-functions' own request wrappers (what Cloud
 * Functions runs). The emulators cannot show it: their demo project turns App Check off (its
 * clients have no provider, and there is no App Check emulator), and the functions emulator
 * accepts any well-formed App Check token without verifying it.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { send, type Handler } from '../../../tests/helpers/function-request.js';

/** The exported functions, loaded afresh with WILDLENS_ENFORCE_APP_CHECK set to `flag`. */
async function deployedWith(flag: string | undefined) {
  vi.resetModules();
  if (flag === undefined) delete process.env.WILDLENS_ENFORCE_APP_CHECK;
  else process.env.WILDLENS_ENFORCE_APP_CHECK = flag;
  const [identify, observations, dialogue, offlineBundle, offlineSync] = await Promise.all([
    import('./identify.js'),
    import('./observations.js'),
    import('./dialogue.js'),
    import('./offline-bundle.js'),
    import('./offline-sync.js'),
  ]);
  return {
    callables: {
      identifyFootprint: identify.identifyFootprint,
      listObservations: observations.listObservations,
      getObservation: observations.getObservation,
      deleteObservation: observations.deleteObservation,
      setObservationFeedback: observations.setObservationFeedback,
      setObservationShare: observations.setObservationShare,
      refineObservation: dialogue.refineObservation,
      addObservationPhoto: dialogue.addObservationPhoto,
      getOfflineBundle: offlineBundle.getOfflineBundle,
      syncOfflineObservations: offlineSync.syncOfflineObservations,
    } as Record<string, Handler>,
    http: identify.identify as unknown as Handler,
  };
}

const saved = {
  flag: process.env.WILDLENS_ENFORCE_APP_CHECK,
  project: process.env.GCLOUD_PROJECT,
};
process.env.GCLOUD_PROJECT ??= 'demo-app-check';
afterAll(() => {
  if (saved.flag === undefined) delete process.env.WILDLENS_ENFORCE_APP_CHECK;
  else process.env.WILDLENS_ENFORCE_APP_CHECK = saved.flag;
  if (saved.project === undefined) delete process.env.GCLOUD_PROJECT;
});

const callable = (fn: Handler, headers: Record<string, string> = {}) =>
  send(fn, headers, { contentType: 'application/json', data: { data: {} } });
const multipart = (fn: Handler, headers: Record<string, string> = {}) =>
  send(fn, headers, { contentType: 'multipart/form-data; boundary=x', data: Buffer.from('--x--') });

/**
 * What the callable layer answers when App Check refuses, before any project code runs: the
 * framework's refusal, in French (common/callable.ts replaces its « Unauthenticated »).
 */
const APP_CHECK_MISSING = {
  error: {
    status: 'UNAUTHENTICATED',
    message:
      'Application non vérifiée : en-tête X-Firebase-AppCheck manquant. Utilisez l’application Wildlens.',
  },
};
const APP_CHECK_INVALID = {
  error: {
    status: 'UNAUTHENTICATED',
    message:
      'Requête refusée : jeton de connexion ou jeton App Check invalide ou expiré. Reconnectez-vous ou relancez l’application.',
  },
};
/** What the project's own code answers a call without a signed-in user. */
const SIGN_IN_FR = {
  error: { status: 'UNAUTHENTICATED', message: 'Connectez-vous pour utiliser cette fonction.' },
};

describe('App Check as deployed (issue 20, finding 1)', () => {
  for (const flag of ['true', undefined, 'ture', '']) {
    it(`flag ${JSON.stringify(flag)}: every app-facing callable refuses a call without an App Check token`, async () => {
      const { callables } = await deployedWith(flag);
      for (const [name, fn] of Object.entries(callables)) {
        const res = await callable(fn);
        expect(res, name).toEqual({ status: 401, body: APP_CHECK_MISSING });
      }
    });
  }

  it('every app-facing callable refuses an App Check token that does not verify', async () => {
    const { callables } = await deployedWith('true');
    for (const [name, fn] of Object.entries(callables)) {
      const res = await callable(fn, { 'X-Firebase-AppCheck': 'not-a-token' });
      expect(res, name).toEqual({ status: 401, body: APP_CHECK_INVALID });
    }
  });

  it('POST /identify refuses a request without, or with a forged, App Check token', async () => {
    const { http } = await deployedWith('true');
    const attempts: Record<string, string>[] = [{}, { 'X-Firebase-AppCheck': 'not-a-token' }];
    for (const headers of attempts) {
      const res = await multipart(http, { ...headers, Authorization: 'Bearer whatever' });
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({
        error: {
          code: 'unauthenticated',
          message: expect.stringMatching(/^Application non vérifiée/),
        },
      });
    }
  });

  it('only an explicit false lets calls without App Check reach the project’s code', async () => {
    const { callables, http } = await deployedWith('false');
    for (const [name, fn] of Object.entries(callables)) {
      expect(await callable(fn), name).toEqual({ status: 401, body: SIGN_IN_FR });
    }
    const res = await multipart(http);
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({
      error: { code: 'unauthenticated', message: expect.stringMatching(/^Connectez-vous/) },
    });
  });
});
