import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { IdentifyInput, IdentifyResponse } from '../handlers/identify.js';
import { fail } from '../common/errors.js';
import type { Caller } from '../common/caller.js';
import type { IdentifyCharge } from '../handlers/rate-limit.js';
import { MODEL_LOADING_MESSAGE_FR, MODEL_LOADING_RETRY_SECONDS } from '../engine/model-engine.js';
import {
  allowedOrigins,
  handleIdentifyRequest,
  type EndpointRequest,
  type EndpointResponse,
} from './identify-endpoint.js';

async function multipart(
  fields: Record<string, string>,
  photo?: Buffer,
  extra: Record<string, string> = {},
): Promise<EndpointRequest> {
  const form = new FormData();
  if (photo) form.append('photo', new Blob([new Uint8Array(photo)]), 'p.jpg');
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const request = new Request('http://localhost/identify', { method: 'POST', body: form });
  const rawBody = Buffer.from(await request.arrayBuffer());
  return {
    method: 'POST',
    headers: {
      'content-type': request.headers.get('content-type') ?? '',
      'content-length': String(rawBody.length),
      authorization: 'Bearer good-token',
      ...extra,
    },
    rawBody,
  };
}

function recorder() {
  const out = {
    status: 0,
    headers: {} as Record<string, string>,
    body: undefined as unknown,
    ended: false,
  };
  const res: EndpointResponse = {
    status(code) {
      out.status = code;
      return res;
    },
    set(field, value) {
      out.headers[field.toLowerCase()] = value;
      return res;
    },
    json(body) {
      out.body = body;
    },
    end() {
      out.ended = true;
    },
  };
  return { out, res };
}

const noRefund: IdentifyCharge = { refund: async () => {} };

function deps(
  identify?: (caller: Caller, input: IdentifyInput) => Promise<IdentifyResponse>,
  consumeQuota: (caller: Caller) => Promise<IdentifyCharge> = async () => noRefund,
) {
  const seen: { uid?: string; input?: IdentifyInput } = {};
  return {
    seen,
    deps: {
      verifyAppCheckToken: null as ((token: string) => Promise<unknown>) | null,
      verifyIdToken: async (token: string): Promise<Caller> => {
        if (token !== 'good-token') throw new Error('bad token');
        return { uid: 'uid-1', anonymous: false };
      },
      consumeQuota,
      identify:
        identify ??
        (async (caller: Caller, input: IdentifyInput) => {
          seen.uid = caller.uid;
          seen.input = input;
          return { observationId: 'obs' } as IdentifyResponse;
        }),
      maxBytes: 1024,
      allowedOrigins: allowedOrigins('demo-wildlens', true),
      now: () => new Date('2026-05-01T12:00:00Z'),
    },
  };
}

describe('handleIdentifyRequest', () => {
  it('parses the multipart photo and fields and passes the verified uid', async () => {
    const { out, res } = recorder();
    const { deps: d, seen } = deps();
    const req = await multipart(
      { lat: '45.5', lng: '-6.25', accuracyM: '10', takenAt: '2026-04-30T10:00:00Z' },
      Buffer.from('bytes'),
      { origin: 'http://127.0.0.1:5000' },
    );
    await handleIdentifyRequest(req, res, d);
    expect(out.status).toBe(200);
    expect(out.headers['access-control-allow-origin']).toBe('http://127.0.0.1:5000');
    expect(seen.uid).toBe('uid-1');
    expect(seen.input?.photo.toString()).toBe('bytes');
    expect(seen.input?.location).toEqual({ lat: 45.5, lng: -6.25, accuracyM: 10 });
    expect(seen.input?.takenAt?.toISOString()).toBe('2026-04-30T10:00:00.000Z');
    // No consent field: no consent.
    expect(seen.input?.shareForTraining).toBe(false);
  });

  it('reads the consent field as the words true or false', async () => {
    for (const [value, expected] of [
      ['true', true],
      ['false', false],
    ] as const) {
      const { res } = recorder();
      const { deps: d, seen } = deps();
      await handleIdentifyRequest(
        await multipart({ shareForTraining: value }, Buffer.from('bytes')),
        res,
        d,
      );
      expect(seen.input?.shareForTraining).toBe(expected);
    }
  });

  it('reads the framed region from four numeric fields, all or none (issue 19)', async () => {
    const { res } = recorder();
    const { deps: d, seen } = deps();
    const region = { regionX: '0.1', regionY: '0.2', regionWidth: '0.5', regionHeight: '0.4' };
    await handleIdentifyRequest(await multipart(region, Buffer.from('bytes')), res, d);
    expect(seen.input?.region).toEqual({ x: 0.1, y: 0.2, width: 0.5, height: 0.4 });

    for (const [fields, message] of [
      [
        { regionX: '0.1', regionY: '0.2' },
        /^Envoyez regionX, regionY, regionWidth et regionHeight ensemble/,
      ],
      [{ ...region, regionWidth: '0.95' }, /^Le cadre dépasse de la photo/],
      [{ ...region, regionHeight: 'large' }, /^Le champ « regionHeight » doit être un nombre/],
    ] as const) {
      const { out, res: refused } = recorder();
      await handleIdentifyRequest(
        await multipart(fields, Buffer.from('bytes')),
        refused,
        deps().deps,
      );
      expect(out.status).toBe(400);
      expect(out.body).toMatchObject({
        error: { code: 'invalid-argument', message: expect.stringMatching(message) },
      });
    }
  });

  it('maps every failure to a status and a French JSON error', async () => {
    const cases: [EndpointRequest, number, string][] = [
      [{ ...(await multipart({}, Buffer.from('x'))), method: 'GET' }, 405, 'method-not-allowed'],
      [
        {
          ...(await multipart({}, Buffer.from('x'))),
          headers: { 'content-type': 'multipart/form-data' },
        },
        401,
        'unauthenticated',
      ],
      [
        await multipart({}, Buffer.from('x'), { authorization: 'Bearer nope' }),
        401,
        'unauthenticated',
      ],
      [
        await multipart({}, Buffer.from('x'), { 'content-type': 'application/json' }),
        415,
        'unsupported-media-type',
      ],
      [await multipart({}, Buffer.alloc(4096)), 413, 'invalid-argument'],
      [await multipart({ lat: '45' }, Buffer.from('x')), 400, 'invalid-argument'],
      [await multipart({ lat: 'nord', lng: '3' }, Buffer.from('x')), 400, 'invalid-argument'],
      [await multipart({}), 400, 'invalid-argument'],
      [await multipart({ shareForTraining: 'oui' }, Buffer.from('x')), 400, 'invalid-argument'],
      [await multipart({ shareForTraining: '1' }, Buffer.from('x')), 400, 'invalid-argument'],
    ];
    for (const [req, status, code] of cases) {
      const { out, res } = recorder();
      await handleIdentifyRequest(req, res, deps().deps);
      expect(out.status, code).toBe(status);
      expect((out.body as { error: { code: string } }).error.code).toBe(code);
    }
  });

  it('turns handler errors into statuses: 415 for foreign formats, 503 without model, 500 otherwise', async () => {
    const run = async (error: () => never) => {
      const { out, res } = recorder();
      await handleIdentifyRequest(
        await multipart({}, Buffer.from('x')),
        res,
        deps(async () => error()).deps,
      );
      return out;
    };
    expect(
      (
        await run(() =>
          fail('invalid-argument', 'Format non pris en charge', { reason: 'unsupported_format' }),
        )
      ).status,
    ).toBe(415);
    const noModel = await run(() => fail('failed-precondition', 'Aucun modèle'));
    expect(noModel.status).toBe(503);
    expect(noModel.headers['retry-after']).toBe('60');
    const crash = await run(() => {
      throw new Error('secret internal detail');
    });
    expect(crash.status).toBe(500);
    expect(JSON.stringify(crash.body)).not.toContain('secret');
  });

  it('spends the quota before reading the body, and answers 429 with Retry-After', async () => {
    const { out, res } = recorder();
    const req = await multipart({}, Buffer.from('x'));
    let parsed = false;
    await handleIdentifyRequest(
      // A body that would be refused as unreadable if it were parsed.
      { ...req, rawBody: req.rawBody!.subarray(0, 20) },
      res,
      deps(
        async () => {
          parsed = true;
          return {} as IdentifyResponse;
        },
        async () => fail('resource-exhausted', 'Trop d’identifications', { retryAfterSeconds: 42 }),
      ).deps,
    );
    expect(parsed).toBe(false);
    expect(out.status).toBe(429);
    expect(out.headers['retry-after']).toBe('42');
    expect(out.body).toMatchObject({ error: { code: 'resource-exhausted' } });
  });

  it('gives the quota back for a call it did not serve, and only then (issue 20, finding 22)', async () => {
    const outcome = async (error: () => never) => {
      let refunds = 0;
      const { out, res } = recorder();
      await handleIdentifyRequest(
        await multipart({}, Buffer.from('x')),
        res,
        deps(
          async () => error(),
          async () => ({ refund: async () => void refunds++ }),
        ).deps,
      );
      return { out, refunds };
    };
    const loading = await outcome(() =>
      fail('unavailable', MODEL_LOADING_MESSAGE_FR, {
        retryAfterSeconds: MODEL_LOADING_RETRY_SECONDS,
      }),
    );
    expect(loading.out.status).toBe(503);
    expect(loading.out.headers['retry-after']).toBe(String(MODEL_LOADING_RETRY_SECONDS));
    expect(loading.refunds).toBe(1);
    const refusedPhoto = await outcome(() => fail('invalid-argument', 'Image illisible.'));
    expect(refusedPhoto.out.status).toBe(400);
    expect(refusedPhoto.refunds).toBe(0);
    const crash = await outcome(() => {
      throw new Error('bug');
    });
    expect(crash.out.status).toBe(500);
    expect(crash.refunds).toBe(0);
  });

  it('restricts CORS to the hosting origins', () => {
    const prod = allowedOrigins('wildlens-prod', false);
    expect(prod('https://wildlens-prod.web.app')).toBe(true);
    expect(prod('https://wildlens-prod.firebaseapp.com')).toBe(true);
    expect(prod('http://localhost:5000')).toBe(false);
    expect(prod('https://evil.example.com')).toBe(false);
    expect(allowedOrigins('demo', true)('http://localhost:5000')).toBe(true);
  });
});

describe('App Check on POST /identify (issue 20, finding 1)', () => {
  /** Deps with App Check enforced by `verifier`, recording which later steps ran. */
  function enforced(verifier: (token: string) => Promise<unknown>) {
    const ran: string[] = [];
    const { deps: d } = deps(
      async () => {
        ran.push('identify');
        return { observationId: 'obs' } as IdentifyResponse;
      },
      async () => {
        ran.push('quota');
        return noRefund;
      },
    );
    return {
      ran,
      deps: {
        ...d,
        verifyAppCheckToken: async (token: string) => {
          ran.push(`appCheck:${token}`);
          return verifier(token);
        },
        verifyIdToken: async (token: string) => {
          ran.push('idToken');
          return d.verifyIdToken(token);
        },
      },
    };
  }
  const genuine = async (token: string) => {
    if (token !== 'genuine-app-check') throw new Error('invalid App Check token');
    return { appId: 'app' };
  };
  /** A request whose body must never be read: reading it throws. */
  async function unreadBody(extra: Record<string, string> = {}): Promise<EndpointRequest> {
    const req = await multipart({}, Buffer.from('x'), extra);
    return Object.defineProperty({ ...req }, 'rawBody', {
      get() {
        throw new Error('the body was read');
      },
    });
  }

  it('refuses a request without an App Check token with a French 401, before anything else', async () => {
    const { out, res } = recorder();
    const { ran, deps: d } = enforced(genuine);
    await handleIdentifyRequest(await unreadBody(), res, d);
    expect(out.status).toBe(401);
    expect(out.body).toEqual({
      error: {
        code: 'unauthenticated',
        message: expect.stringMatching(/^Application non vérifiée : en-tête X-Firebase-AppCheck/),
      },
    });
    // Neither the ID token, nor the quota, nor the body, nor the model.
    expect(ran).toEqual([]);
  });

  it('refuses a forged, expired or empty App Check token the same way', async () => {
    for (const token of ['forged.jwt.token', 'expired', '   ']) {
      const { out, res } = recorder();
      const { ran, deps: d } = enforced(genuine);
      await handleIdentifyRequest(await unreadBody({ 'x-firebase-appcheck': token }), res, d);
      expect(out.status, token).toBe(401);
      expect(out.body, token).toMatchObject({
        error: {
          code: 'unauthenticated',
          message: expect.stringMatching(/^Application non vérifiée/),
        },
      });
      expect(ran, token).toEqual(token.trim() ? [`appCheck:${token}`] : []);
    }
  });

  it('serves a request with a valid App Check token', async () => {
    const { out, res } = recorder();
    const { ran, deps: d } = enforced(genuine);
    await handleIdentifyRequest(
      await multipart({}, Buffer.from('x'), { 'x-firebase-appcheck': 'genuine-app-check' }),
      res,
      d,
    );
    expect(out.status).toBe(200);
    expect(ran).toEqual(['appCheck:genuine-app-check', 'idToken', 'quota', 'identify']);
  });

  it('checks nothing when App Check is not enforced (the emulators’ demo project)', async () => {
    const { out, res } = recorder();
    await handleIdentifyRequest(await multipart({}, Buffer.from('x')), res, deps().deps);
    expect(out.status).toBe(200);
  });

  it('lets the hosted pages send the App Check header (CORS preflight)', async () => {
    const { out, res } = recorder();
    await handleIdentifyRequest(
      { method: 'OPTIONS', headers: { origin: 'http://127.0.0.1:5000' } },
      res,
      enforced(genuine).deps,
    );
    expect(out.status).toBe(204);
    expect(out.headers['access-control-allow-headers']?.split(/,\s*/)).toContain(
      'X-Firebase-AppCheck',
    );
  });
});

describe('broken multipart bodies (issue 13, finding 1)', () => {
  /** A valid body (photo part first) with its last `cutFromEnd` bytes missing. */
  async function truncated(cutFromEnd: number): Promise<EndpointRequest> {
    const req = await multipart({ lat: '45', lng: '5' }, Buffer.alloc(600, 7));
    const body = req.rawBody!;
    return { ...req, rawBody: body.subarray(0, body.length - cutFromEnd) };
  }

  it('answers 400 in French when the body stops inside the photo or lacks its closing boundary', async () => {
    for (const cut of [300, 120, 40, 16, 6]) {
      const { out, res } = recorder();
      await handleIdentifyRequest(await truncated(cut), res, deps().deps);
      expect(out.status, `cut ${cut}`).toBe(400);
      expect(out.body).toMatchObject({
        error: { code: 'invalid-argument', message: expect.stringMatching(/formulaire/i) },
      });
    }
  });

  it('answers 400 for a photo part sent under another name and then cut', async () => {
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(500)]), 'p.jpg');
    const request = new Request('http://localhost/identify', { method: 'POST', body: form });
    const body = Buffer.from(await request.arrayBuffer());
    const { out, res } = recorder();
    await handleIdentifyRequest(
      {
        method: 'POST',
        headers: {
          'content-type': request.headers.get('content-type') ?? '',
          authorization: 'Bearer good-token',
        },
        rawBody: body.subarray(0, 200),
      },
      res,
      deps().deps,
    );
    expect(out.status).toBe(400);
  });

  it('answers 400 for a file part without a name (found by the rotating fuzz seed, issue 20 finding 20)', async () => {
    const boundary = 'frontiere';
    const body = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; filename="p.jpg"\r\n\r\nxyz\r\n--${boundary}--\r\n`,
    );
    const { out, res } = recorder();
    await handleIdentifyRequest(
      {
        method: 'POST',
        headers: {
          'content-type': `multipart/form-data; boundary=${boundary}`,
          authorization: 'Bearer good-token',
        },
        rawBody: body,
      },
      res,
      deps().deps,
    );
    expect(out.status).toBe(400);
    expect(out.body).toMatchObject({
      error: {
        code: 'invalid-argument',
        message: expect.stringMatching(/^Champ fichier inattendu/),
      },
    });
  });

  it('closes silently when a streaming client disconnects mid-upload, and serves the next request', async () => {
    const full = await multipart({}, Buffer.alloc(600, 7));
    const stream = new PassThrough();
    const req = Object.assign(stream, { method: 'POST', headers: full.headers });
    const { out, res } = recorder();
    // The client leaves once the handler reads its body (the stream resumes when piped into
    // the form parser): an event, not a delay.
    const reading = once(stream, 'resume');
    const done = handleIdentifyRequest(req, res, deps().deps);
    stream.write(full.rawBody!.subarray(0, 300));
    await reading;
    stream.destroy(new Error('aborted'));
    await done;
    expect(out.status).toBe(0); // nothing written: there is nobody to answer
    expect(out.ended).toBe(true);
    const next = recorder();
    await handleIdentifyRequest(await multipart({}, Buffer.from('ok')), next.res, deps().deps);
    expect(next.out.status).toBe(200);
  });
});
