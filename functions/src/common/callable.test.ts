/**
 * Bodies the callable protocol cannot decode (issue 20, finding 12), through firebase-functions'
 * own request wrapper: firebase-functions' onCall answers them with a bare `500 INTERNAL` and an
 * error log before any project code runs; ours answers a French `invalid-argument`.
 */
import { HttpsError, onCall as frameworkOnCall } from 'firebase-functions/https';
import { describe, expect, it } from 'vitest';
import { send, type Handler } from '../../../tests/helpers/function-request.js';
import { notFrenchBecause } from '../../../tests/helpers/french.js';
import { MAX_PAYLOAD_DEPTH } from '../api/schemas.js';
import { onCall } from './callable.js';

function nestedArrays(depth: number): unknown {
  let value: unknown = 'feuille';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** Each body the reviews sent, and what the callable layer made of it. */
const HOSTILE: Record<string, unknown> = {
  '~6 KB of nested arrays': nestedArrays(3_000),
  'nesting one level past the limit': nestedArrays(MAX_PAYLOAD_DEPTH + 1),
  'an unknown @type value': { speciesId: { '@type': 'type.googleapis.com/evil', value: 'x' } },
  'a 64-bit integer that is not a number': {
    pageSize: { '@type': 'type.googleapis.com/google.protobuf.Int64Value', value: 'abc' },
  },
  'a __proto__ key': JSON.parse('{"__proto__": {"admin": true}}'),
};

function echo() {
  const seen: unknown[] = [];
  const fn = onCall({}, (request) => {
    seen.push(request.data);
    return { ok: true };
  }) as unknown as Handler;
  return { fn, seen };
}

const call = (fn: Handler, data: unknown) =>
  send(fn, {}, { contentType: 'application/json', data: { data } });

describe('callable bodies the protocol cannot decode (issue 20, finding 12)', () => {
  it('firebase-functions alone answers a bare 500 INTERNAL to deep nesting and unknown @type', async () => {
    const bare = frameworkOnCall({}, () => ({ ok: true })) as unknown as Handler;
    for (const name of ['~6 KB of nested arrays', 'an unknown @type value']) {
      expect(await call(bare, HOSTILE[name]), name).toEqual({
        status: 500,
        body: { error: { status: 'INTERNAL', message: 'INTERNAL' } },
      });
    }
  });

  it.each(Object.keys(HOSTILE))(
    '%s: a French invalid-argument, the handler never runs',
    async (name) => {
      const { fn, seen } = echo();
      const res = await call(fn, HOSTILE[name]);
      expect(res.status).toBe(400);
      const { error } = res.body as { error: { status: string; message: string } };
      expect(error.status).toBe('INVALID_ARGUMENT');
      expect(notFrenchBecause(error.message), error.message).toBeNull();
      expect(seen).toEqual([]);
    },
  );

  it('names the real problem of a too deep body, not a reserved key', async () => {
    const { fn } = echo();
    const res = await call(fn, nestedArrays(MAX_PAYLOAD_DEPTH + 1));
    expect(res.body).toEqual({
      error: {
        status: 'INVALID_ARGUMENT',
        message: `Requête invalide : données imbriquées sur plus de ${MAX_PAYLOAD_DEPTH} niveaux.`,
      },
    });
  });

  it('lets through what the protocol decodes: the deepest allowed body, a 64-bit integer', async () => {
    const { fn, seen } = echo();
    expect((await call(fn, nestedArrays(MAX_PAYLOAD_DEPTH - 1))).status).toBe(200);
    const long = {
      pageSize: { '@type': 'type.googleapis.com/google.protobuf.Int64Value', value: '20' },
    };
    expect((await call(fn, long)).status).toBe(200);
    expect(seen).toEqual([nestedArrays(MAX_PAYLOAD_DEPTH - 1), { pageSize: 20 }]);
  });

  it('keeps the trigger description that the deploy and the emulator read', () => {
    const ours = onCall({ region: 'europe-west1' }, () => null) as unknown as Record<
      string,
      unknown
    >;
    const theirs = frameworkOnCall({ region: 'europe-west1' }, () => null) as unknown as Record<
      string,
      unknown
    >;
    expect(ours.__endpoint).toEqual(theirs.__endpoint);
    expect(ours.__trigger).toEqual(theirs.__trigger);
    expect(typeof ours.run).toBe('function');
  });
});

describe('the callable layer’s own refusals, in French', () => {
  it('a request that is not a callable call gets a French « Bad Request »', async () => {
    const { fn, seen } = echo();
    const res = await send(fn, {}, { contentType: 'text/plain', data: Buffer.from('bonjour') });
    expect(res.status).toBe(400);
    const { error } = res.body as { error: { status: string; message: string } };
    expect(error.status).toBe('INVALID_ARGUMENT');
    expect(notFrenchBecause(error.message), error.message).toBeNull();
    expect(seen).toEqual([]);
  });

  it('an ID token that does not verify gets a French « Unauthenticated »', async () => {
    const { fn, seen } = echo();
    // A project id, so that the Admin SDK does not look for one on the network first.
    const project = process.env.GCLOUD_PROJECT;
    process.env.GCLOUD_PROJECT ??= 'demo-callable';
    const res = await send(
      fn,
      { Authorization: 'Bearer pas-un-jeton' },
      { contentType: 'application/json', data: { data: {} } },
    );
    if (project === undefined) delete process.env.GCLOUD_PROJECT;
    expect(res.status).toBe(401);
    const { error } = res.body as { error: { status: string; message: string } };
    expect(error.status).toBe('UNAUTHENTICATED');
    expect(notFrenchBecause(error.message), error.message).toBeNull();
    expect(seen).toEqual([]);
  });

  it('leaves the project’s own errors and answers untouched', async () => {
    const own = onCall({}, () => {
      throw new HttpsError('unauthenticated', 'Unauthenticated');
    }) as unknown as Handler;
    // Only the framework's refusals are translated: once the handler ran, the text is its own.
    expect((await call(own, {})).body).toEqual({
      error: { status: 'UNAUTHENTICATED', message: 'Unauthenticated' },
    });
  });
});
