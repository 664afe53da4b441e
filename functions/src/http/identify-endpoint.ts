import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import busboy from 'busboy';
import { HttpsError, type FunctionsErrorCode } from 'firebase-functions/https';
import * as logger from 'firebase-functions/logger';
import { UNAVAILABLE_MESSAGE_FR, errorSummary, fail } from '../common/errors.js';
import { isTransientError } from '../common/transient.js';
import type { Caller } from '../common/caller.js';
import type { IdentifyInput, IdentifyResponse } from '../handlers/identify.js';
import { FORM_NUMBER, identifyFormRequest, parseInput } from '../api/schemas.js';

/** The parts of Express' request/response the endpoint uses (easy to fake in tests). */
export interface EndpointRequest {
  method: string;
  headers: IncomingHttpHeaders;
  /** The whole body, as Cloud Functions buffers it; without it the request itself is read. */
  rawBody?: Buffer;
}

export interface EndpointResponse {
  status(code: number): EndpointResponse;
  set(field: string, value: string): EndpointResponse;
  json(body: unknown): void;
  end(): void;
}

export interface IdentifyEndpointDeps {
  /**
   * Verifies the request's App Check token (header X-Firebase-AppCheck; throws when invalid),
   * or null when App Check is not enforced. onRequest has no enforceAppCheck option: the
   * endpoint checks it itself, before anything else costs a lookup, a quota slot or a read.
   */
  verifyAppCheckToken: ((token: string) => Promise<unknown>) | null;
  /**
   * Verifies a Firebase ID token and returns who it names (throws when invalid, revoked, or
   * when its account was disabled or deleted).
   */
  verifyIdToken(token: string): Promise<Caller>;
  /** Consumes one identification of the budget; throws resource-exhausted past it. */
  consumeQuota(caller: Caller): Promise<void>;
  identify(caller: Caller, input: IdentifyInput): Promise<IdentifyResponse>;
  maxBytes: number;
  allowedOrigins: (origin: string) => boolean;
  now: () => Date;
}

/** Origins of the hosted pages: the project's Hosting domains, and local ports under the emulator. */
export function allowedOrigins(projectId: string, emulator: boolean): (origin: string) => boolean {
  const hosted = new Set([`https://${projectId}.web.app`, `https://${projectId}.firebaseapp.com`]);
  return (origin) =>
    hosted.has(origin) ||
    (emulator && /^http:\/\/(localhost|127\.0\.0\.1)(:\d{1,5})?$/.test(origin));
}

/** An HTTP failure with the callable-style code and a French message. */
class EndpointError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly messageFr: string,
  ) {
    super(messageFr);
  }
}

const STATUS_OF: Partial<Record<FunctionsErrorCode, number>> = {
  'invalid-argument': 400,
  unauthenticated: 401,
  'permission-denied': 403,
  'not-found': 404,
  'failed-precondition': 503,
  unavailable: 503,
  'resource-exhausted': 429,
};

/** HTTP status of an HttpsError, refining invalid-argument by the image rejection reason. */
export function statusOf(err: HttpsError): number {
  const reason = (err.details as { reason?: unknown } | undefined)?.reason;
  if (err.code === 'invalid-argument' && reason === 'unsupported_format') return 415;
  if (err.code === 'invalid-argument' && reason === 'too_large') return 413;
  return STATUS_OF[err.code] ?? 500;
}

interface ParsedForm {
  photo: Buffer | null;
  fields: Record<string, string>;
}

const MAX_FIELD_BYTES = 200;
const FORM_FIELDS = new Set(['lat', 'lng', 'accuracyM', 'takenAt', 'shareForTraining']);

/** The client went away before its body was read: there is nobody left to answer. */
export class ClientGoneError extends Error {
  constructor() {
    super('client disconnected during upload');
    this.name = 'ClientGoneError';
  }
}

const unreadableForm = () =>
  new EndpointError(
    400,
    'invalid-argument',
    'Formulaire multipart incomplet ou illisible : renvoyez la photo.',
  );

/**
 * Streams the multipart body through busboy: one file (field `photo`) of at most maxBytes,
 * a few short text fields. Stops with 413 as soon as the file exceeds the limit.
 *
 * Every stream involved (the body, busboy, each file part) has an error listener: an
 * unlistened 'error' event (a body cut in the middle of a part emits "Unexpected end of form"
 * on the part's FileStream) would throw out of the event loop and kill the instance with all
 * its concurrent requests. Whatever happens, the promise settles exactly once: a 400 for a
 * broken body, ClientGoneError when the client disconnected.
 */
export function parseMultipart(
  req: EndpointRequest | (EndpointRequest & Readable),
  maxBytes: number,
): Promise<ParsedForm> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        limits: { files: 1, fileSize: maxBytes, fields: 8, fieldSize: MAX_FIELD_BYTES, parts: 10 },
      });
    } catch {
      reject(
        new EndpointError(
          415,
          'unsupported-media-type',
          'Envoyez la photo en multipart/form-data.',
        ),
      );
      return;
    }
    // Cloud Functions has already buffered the body (rawBody); otherwise read the request.
    const source: Readable = req.rawBody
      ? Readable.from([req.rawBody])
      : req instanceof Readable
        ? req
        : Readable.from([]);
    const fields: Record<string, string> = {};
    let photo: Buffer | null = null;
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      // Stop reading: what is left of the body is discarded, not parsed.
      source.unpipe(bb);
      source.resume();
      if (err) reject(err);
      else resolve({ photo, fields });
    };
    source.on('error', () => settle(new ClientGoneError()));
    source.on('aborted', () => settle(new ClientGoneError()));
    source.on('close', () => {
      if (!source.readableEnded) settle(new ClientGoneError());
    });
    bb.on('file', (name, stream) => {
      stream.on('error', () => settle(unreadableForm()));
      if (name !== 'photo') {
        stream.resume();
        settle(
          new EndpointError(
            400,
            'invalid-argument',
            `Champ fichier inattendu « ${name.slice(0, 40)} » : utilisez « photo ».`,
          ),
        );
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () => {
        const mb = Math.round(maxBytes / (1024 * 1024));
        settle(
          new EndpointError(
            413,
            'invalid-argument',
            `L'image dépasse la taille maximale de ${mb} Mo.`,
          ),
        );
      });
      stream.on('close', () => {
        photo = Buffer.concat(chunks);
      });
    });
    bb.on('field', (name, value, info) => {
      if (!FORM_FIELDS.has(name)) return; // unknown fields are ignored
      if (info.valueTruncated) {
        settle(new EndpointError(400, 'invalid-argument', `Le champ « ${name} » est trop long.`));
        return;
      }
      fields[name] = value;
    });
    bb.on('filesLimit', () =>
      settle(new EndpointError(400, 'invalid-argument', 'Une seule photo par requête.')),
    );
    bb.on('partsLimit', () =>
      settle(new EndpointError(400, 'invalid-argument', 'Trop de champs dans le formulaire.')),
    );
    bb.on('error', () => settle(unreadableForm()));
    bb.on('close', () => settle());
    source.pipe(bb);
  });
}

function numberField(fields: Record<string, string>, name: string): number | undefined {
  const raw = fields[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  if (!FORM_NUMBER.test(raw)) fail('invalid-argument', `Le champ « ${name} » doit être un nombre.`);
  return Number(raw);
}

/** A form's boolean is the word `true` or `false`, nothing else. */
function booleanField(fields: Record<string, string>, name: string): boolean | undefined {
  const raw = fields[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  if (raw !== 'true' && raw !== 'false') {
    fail('invalid-argument', `Le champ « ${name} » doit valoir true ou false.`);
  }
  return raw === 'true';
}

/** Form fields → the callable's shape, validated by the same schema rules. */
export function inputFromForm(form: ParsedForm, now: Date): IdentifyInput {
  const lat = numberField(form.fields, 'lat');
  const lng = numberField(form.fields, 'lng');
  const accuracyM = numberField(form.fields, 'accuracyM');
  if ((lat === undefined) !== (lng === undefined)) {
    fail('invalid-argument', 'Envoyez lat et lng ensemble.');
  }
  const takenAt = form.fields.takenAt?.trim();
  const shareForTraining = booleanField(form.fields, 'shareForTraining');
  const request = parseInput(
    identifyFormRequest(() => now),
    {
      photo: form.photo ?? Buffer.alloc(0),
      ...(lat === undefined
        ? {}
        : { location: { lat, lng, ...(accuracyM === undefined ? {} : { accuracyM }) } }),
      ...(takenAt ? { takenAt } : {}),
      ...(shareForTraining === undefined ? {} : { shareForTraining }),
    },
  );
  return {
    photo: request.photo,
    location: request.location ?? null,
    takenAt: request.takenAt ?? null,
    shareForTraining: request.shareForTraining ?? false,
  };
}

/**
 * App Check, answered like the callable layer does with enforceAppCheck (code
 * `unauthenticated`, HTTP 401), in French: a missing, malformed, forged or expired token is
 * refused before the ID token, the quota or the body are looked at.
 */
async function requireAppCheck(
  req: EndpointRequest,
  verify: (token: string) => Promise<unknown>,
): Promise<void> {
  const header = req.headers['x-firebase-appcheck'];
  const token = typeof header === 'string' ? header.trim() : '';
  if (!token) {
    throw new EndpointError(
      401,
      'unauthenticated',
      'Application non vérifiée : en-tête X-Firebase-AppCheck manquant. Utilisez l’application Wildlens.',
    );
  }
  try {
    await verify(token);
  } catch {
    throw new EndpointError(
      401,
      'unauthenticated',
      'Application non vérifiée : jeton App Check invalide ou expiré. Relancez l’application.',
    );
  }
}

function sendError(res: EndpointResponse, status: number, code: string, message: string): void {
  res.status(status).set('Cache-Control', 'no-store').json({ error: { code, message } });
}

/**
 * POST /identify: `X-Firebase-AppCheck: <App Check token>` (when enforced),
 * `Authorization: Bearer <ID token>`, multipart field `photo` (+ lat, lng, accuracyM, takenAt). Same validation and JSON as the identifyFootprint callable; errors are
 * `{ error: { code, message } }` in French with 400/401/405/413/415/503, never a stack trace.
 */
export async function handleIdentifyRequest(
  req: EndpointRequest | (EndpointRequest & Readable),
  res: EndpointResponse,
  deps: IdentifyEndpointDeps,
): Promise<void> {
  const origin = typeof req.headers.origin === 'string' ? req.headers.origin : '';
  if (origin && deps.allowedOrigins(origin)) {
    res.set('Access-Control-Allow-Origin', origin).set('Vary', 'Origin');
  }
  if (req.method === 'OPTIONS') {
    res
      .set('Access-Control-Allow-Methods', 'POST')
      .set('Access-Control-Allow-Headers', 'Authorization, Content-Type, X-Firebase-AppCheck')
      .set('Access-Control-Max-Age', '3600')
      .status(204)
      .end();
    return;
  }
  try {
    if (req.method !== 'POST') {
      res.set('Allow', 'POST, OPTIONS');
      throw new EndpointError(405, 'method-not-allowed', 'Méthode non autorisée : utilisez POST.');
    }
    if (deps.verifyAppCheckToken) await requireAppCheck(req, deps.verifyAppCheckToken);
    const match = /^Bearer\s+(\S+)$/i.exec(String(req.headers.authorization ?? ''));
    if (!match?.[1]) {
      throw new EndpointError(
        401,
        'unauthenticated',
        'Connectez-vous : en-tête Authorization: Bearer <jeton> manquant.',
      );
    }
    let caller: Caller;
    try {
      caller = await deps.verifyIdToken(match[1]);
    } catch {
      throw new EndpointError(
        401,
        'unauthenticated',
        'Jeton d’authentification invalide ou expiré : reconnectez-vous.',
      );
    }
    const type = String(req.headers['content-type'] ?? '').toLowerCase();
    if (!type.startsWith('multipart/form-data')) {
      throw new EndpointError(
        415,
        'unsupported-media-type',
        'Envoyez la photo en multipart/form-data (champ « photo »).',
      );
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > deps.maxBytes + 64 * 1024) {
      const mb = Math.round(deps.maxBytes / (1024 * 1024));
      throw new EndpointError(
        413,
        'invalid-argument',
        `L'image dépasse la taille maximale de ${mb} Mo.`,
      );
    }
    // The budget is spent before the body is even read: a flood costs no parsing or decoding.
    await deps.consumeQuota(caller);
    const form = await parseMultipart(req, deps.maxBytes);
    const result = await deps.identify(caller, inputFromForm(form, deps.now()));
    res.status(200).set('Cache-Control', 'no-store').json(result);
  } catch (err) {
    if (err instanceof ClientGoneError) {
      logger.info('identify.http.client_gone');
      res.end();
    } else if (err instanceof EndpointError) {
      sendError(res, err.status, err.code, err.messageFr);
    } else if (err instanceof HttpsError) {
      if (statusOf(err) === 503) res.set('Retry-After', '60');
      const retryAfter = (err.details as { retryAfterSeconds?: unknown } | undefined)
        ?.retryAfterSeconds;
      if (typeof retryAfter === 'number') res.set('Retry-After', String(retryAfter));
      sendError(res, statusOf(err), err.code, err.message);
    } else if (isTransientError(err)) {
      logger.warn('identify.http.unavailable', errorSummary(err));
      res.set('Retry-After', '5');
      sendError(res, 503, 'unavailable', UNAVAILABLE_MESSAGE_FR);
    } else {
      logger.error('identify.http.failed', errorSummary(err));
      sendError(res, 500, 'internal', 'Une erreur interne est survenue. Réessayez plus tard.');
    }
  }
}
