/**
 * `onCall`, with the body screened before the callable protocol decodes it.
 *
 * firebase-functions decodes `data` before the handler runs, recursively and without a bound:
 * a deeply nested body overflows its stack and an unknown `@type` value makes it throw, which
 * the callable layer answers with a bare `500 INTERNAL` and an error log with a stack trace
 * (issue 20, finding 12). No option of onCall runs earlier (authPolicy gets the decoded data),
 * so the exported function itself looks at the parsed body first (rawPayloadProblem). A refused
 * body is not answered here: its `data` is replaced by null and the request remembered, and the
 * handler throws the French `invalid-argument`. The framework's own order (CORS, ID token, App
 * Check) and answer format are kept.
 *
 * The refusals the framework makes itself, before any project code (a missing or forged App Check
 * token, an ID token that does not verify, a body that is not a callable request), come with an
 * English one-word message (« Unauthenticated », « Bad Request ») that the app would show. The
 * checks stay the framework's (enforceAppCheck is passed through unchanged); only the text of
 * those exact answers is replaced by a French one (frenchFrameworkRefusal).
 */
import {
  HttpsError,
  onCall as frameworkOnCall,
  type CallableOptions,
  type CallableRequest,
} from 'firebase-functions/https';
import { rawPayloadProblem } from '../api/schemas.js';

/** The requests that reached the project's handler: their errors are the project's own. */
const handledRequests = new WeakSet<object>();

/** The requests whose body was refused, with the French reason. */
const refusedBodies = new WeakMap<object, string>();

interface RawCallableRequest {
  body?: { data?: unknown } | null;
}

/** Screens a request's parsed body; a refused one is emptied (decoded as null) and remembered. */
export function screenCallableBody(req: RawCallableRequest): void {
  const body = req.body;
  if (!body || typeof body !== 'object') return;
  const problem = rawPayloadProblem(body.data);
  if (problem === null) return;
  refusedBodies.set(req, problem);
  body.data = null;
}

interface CallableError {
  error: { status: string; message: string; details?: unknown };
}

const isCallableError = (body: unknown): body is CallableError =>
  typeof body === 'object' &&
  body !== null &&
  typeof (body as CallableError).error?.status === 'string' &&
  typeof (body as CallableError).error?.message === 'string';

/** The App Check header as the framework reads it (Express lowercases header names). */
function hasAppCheckHeader(req: RawCallableRequest & { headers?: unknown }): boolean {
  const headers = (req.headers ?? {}) as Record<string, unknown>;
  const value = headers['x-firebase-appcheck'];
  return typeof value === 'string' && value.trim() !== '';
}

/**
 * The French text of one of the framework's own refusals, or the body unchanged. Only the exact
 * English answers of firebase-functions' callable layer are replaced: the project's own errors
 * are French already and pass through.
 */
export function frenchFrameworkRefusal(
  body: unknown,
  req: RawCallableRequest & { headers?: unknown },
  enforceAppCheck: boolean,
): unknown {
  if (!isCallableError(body)) return body;
  const { status, message } = body.error;
  let french: string | null = null;
  if (status === 'UNAUTHENTICATED' && message === 'Unauthenticated') {
    french =
      enforceAppCheck && !hasAppCheckHeader(req)
        ? 'Application non vérifiée : en-tête X-Firebase-AppCheck manquant. Utilisez l’application Wildlens.'
        : 'Requête refusée : jeton de connexion ou jeton App Check invalide ou expiré. Reconnectez-vous ou relancez l’application.';
  } else if (status === 'INVALID_ARGUMENT' && message === 'Bad Request') {
    french = 'Requête invalide : l’application doit envoyer un appel de fonction au format JSON.';
  }
  return french === null ? body : { error: { ...body.error, message: french } };
}

interface RawCallableResponse {
  send?: (body: unknown) => unknown;
}

/** onCall from firebase-functions/https, with the same options and handler. */
export function onCall<T, Return>(
  options: CallableOptions<T>,
  handler: (request: CallableRequest<T>) => Return,
): ReturnType<typeof frameworkOnCall<T, Return>> {
  const callable = frameworkOnCall<T, Return>(options, (request) => {
    handledRequests.add(request.rawRequest);
    const refused = refusedBodies.get(request.rawRequest);
    if (refused !== undefined) throw new HttpsError('invalid-argument', refused);
    return handler(request);
  });
  const enforceAppCheck = options.enforceAppCheck === true;
  const screened = (req: RawCallableRequest, res: RawCallableResponse): unknown => {
    screenCallableBody(req);
    const send = res.send;
    if (typeof send === 'function') {
      res.send = (body: unknown) =>
        send.call(
          res,
          handledRequests.has(req) ? body : frenchFrameworkRefusal(body, req, enforceAppCheck),
        );
    }
    return (callable as unknown as (req: unknown, res: unknown) => unknown)(req, res);
  };
  // The deploy and the emulator read the trigger's description from the exported function.
  const {
    length: _length,
    name: _name,
    ...properties
  } = Object.getOwnPropertyDescriptors(callable);
  return Object.defineProperties(screened, properties) as unknown as typeof callable;
}
