/**
 * Fuzzing of POST /identify's multipart parsing (issue 13, finding 1): valid bodies truncated,
 * split into random chunks (streamed, as a slow client sends them), or mutated byte by byte.
 * Whatever arrives, the endpoint answers 200 or a French 4xx JSON error (never 500), and no
 * stream error escapes to the event loop (Vitest fails the run on any uncaught error).
 */
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzParameters, fuzzTimeoutMs } from '../../../tests/helpers/fuzz.js';
import type { IdentifyResponse } from '../handlers/identify.js';
import {
  allowedOrigins,
  handleIdentifyRequest,
  type EndpointRequest,
  type EndpointResponse,
  type IdentifyEndpointDeps,
} from './identify-endpoint.js';

const MAX_BYTES = 2048;

const deps: IdentifyEndpointDeps = {
  verifyAppCheckToken: null,
  verifyIdToken: async () => ({ uid: 'fuzz', anonymous: false }),
  consumeQuota: async () => {},
  identify: async () => ({ observationId: 'obs' }) as IdentifyResponse,
  maxBytes: MAX_BYTES,
  allowedOrigins: allowedOrigins('demo-wildlens', true),
  now: () => new Date('2026-05-01T12:00:00Z'),
};

async function validBody(photo: Uint8Array, fields: [string, string][]) {
  const form = new FormData();
  form.append('photo', new Blob([new Uint8Array(photo)]), 'p.jpg');
  for (const [k, v] of fields) form.append(k, v);
  const request = new Request('http://localhost/identify', { method: 'POST', body: form });
  return {
    body: Buffer.from(await request.arrayBuffer()),
    type: request.headers.get('content-type') ?? '',
  };
}

interface Answer {
  status: number;
  body: unknown;
  ended: boolean;
}

function recorder(): { answer: Answer; res: EndpointResponse } {
  const answer: Answer = { status: 0, body: undefined, ended: false };
  const res: EndpointResponse = {
    status(code) {
      answer.status = code;
      return res;
    },
    set: () => res,
    json(body) {
      answer.body = body;
    },
    end() {
      answer.ended = true;
    },
  };
  return { answer, res };
}

function expectCleanAnswer(answer: Answer): void {
  expect([200, 400, 413, 415]).toContain(answer.status);
  if (answer.status !== 200) {
    const { error } = answer.body as { error: { code: string; message: string } };
    expect(['invalid-argument', 'unsupported-media-type']).toContain(error.code);
    expect(error.message).toMatch(/[a-zé]/);
  }
}

const formParts = fc.record({
  photo: fc.uint8Array({ minLength: 0, maxLength: 3000 }),
  fields: fc.array(
    fc.tuple(
      fc.constantFrom('lat', 'lng', 'accuracyM', 'takenAt', 'photo', 'autre'),
      fc.oneof(fc.string({ maxLength: 300 }), fc.constantFrom('45.2', '5.7', '1e308', 'NaN')),
    ),
    { maxLength: 6 },
  ),
});

describe('POST /identify under fuzzing', () => {
  it(
    'answers 200 or a French 4xx to truncated and byte-mutated bodies',
    { timeout: fuzzTimeoutMs(300, 10) },
    async () => {
      await fc.assert(
        fc.asyncProperty(
          formParts,
          fc.double({ min: 0, max: 1, noNaN: true }),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
          async ({ photo, fields }, keep, flips) => {
            const { body, type } = await validBody(photo, fields);
            const mutated = Buffer.from(body.subarray(0, Math.floor(body.length * keep)));
            for (const [at, byte] of flips) if (mutated.length) mutated[at % mutated.length] = byte;
            const req: EndpointRequest = {
              method: 'POST',
              headers: { 'content-type': type, authorization: 'Bearer t' },
              rawBody: mutated,
            };
            const { answer, res } = recorder();
            await handleIdentifyRequest(req, res, deps);
            expectCleanAnswer(answer);
          },
        ),
        fuzzParameters(300),
      );
    },
  );

  it(
    'reads bodies streamed in random chunks, cut short or abandoned, without an uncaught error',
    { timeout: fuzzTimeoutMs(150, 20) },
    async () => {
      await fc.assert(
        fc.asyncProperty(
          formParts,
          fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 12 }),
          fc.constantFrom('complete', 'truncated', 'disconnected'),
          async ({ photo, fields }, chunkSizes, ending) => {
            const { body, type } = await validBody(photo, fields);
            const stream = new PassThrough();
            const req = Object.assign(stream, {
              method: 'POST',
              headers: { 'content-type': type, authorization: 'Bearer t' },
            });
            const { answer, res } = recorder();
            const handled = handleIdentifyRequest(req, res, deps);
            const end = ending === 'complete' ? body.length : Math.floor(body.length / 2);
            let at = 0;
            for (let i = 0; at < end; i++) {
              const size = chunkSizes[i % chunkSizes.length] ?? 1;
              stream.write(body.subarray(at, Math.min(end, at + size)));
              at += size;
              await new Promise((resolve) => setImmediate(resolve));
            }
            if (ending === 'disconnected') stream.destroy(new Error('socket hang up'));
            else stream.end();
            await handled;
            if (ending === 'disconnected' && answer.status === 0) expect(answer.ended).toBe(true);
            else expectCleanAnswer(answer);
            if (ending === 'truncated') expect(answer.status).not.toBe(200);
          },
        ),
        fuzzParameters(150),
      );
    },
  );
});
