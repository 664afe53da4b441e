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
 */
import {
  HttpsError,
  onCall as frameworkOnCall,
  type CallableOptions,
  type CallableRequest,
} from 'firebase-functions/https';
import { rawPayloadProblem } from '../api/schemas.js';

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

/** onCall from firebase-functions/https, with the same options and handler. */
export function onCall<T, Return>(
  options: CallableOptions<T>,
  handler: (request: CallableRequest<T>) => Return,
): ReturnType<typeof frameworkOnCall<T, Return>> {
  const callable = frameworkOnCall<T, Return>(options, (request) => {
    const refused = refusedBodies.get(request.rawRequest);
    if (refused !== undefined) throw new HttpsError('invalid-argument', refused);
    return handler(request);
  });
  const screened = (req: RawCallableRequest, res: unknown): unknown => {
    screenCallableBody(req);
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
