/**
 * Drives an exported HTTPS or callable function the way Cloud Functions does: a minimal
 * Express request (body already parsed, as the Functions Framework hands it over) and a
 * response that records the status and body. For tests of what firebase-functions' own
 * wrappers do before and around the project's code.
 */
import { EventEmitter } from 'node:events';

export type Handler = (req: unknown, res: unknown) => unknown;

/** A minimal Express request/response pair, as the Functions Framework hands them over. */
export async function send(
  fn: Handler,
  headers: Record<string, string>,
  body: { contentType: string; data: Buffer | object },
): Promise<{ status: number; body: unknown }> {
  const lower: Record<string, string> = { 'content-type': body.contentType };
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
  const raw = Buffer.isBuffer(body.data) ? body.data : Buffer.from(JSON.stringify(body.data));
  const req = Object.assign(new EventEmitter(), {
    method: 'POST',
    url: '/',
    headers: lower,
    body: Buffer.isBuffer(body.data) ? {} : body.data,
    rawBody: raw,
    header: (name: string) => lower[name.toLowerCase()],
    get: (name: string) => lower[name.toLowerCase()],
  });
  const out = { status: 0, body: undefined as unknown };
  const responseHeaders: Record<string, string> = {};
  const finished = new Promise<void>((resolve) => {
    const res = Object.assign(new EventEmitter(), {
      statusCode: 200,
      setHeader: (k: string, v: unknown) => void (responseHeaders[k.toLowerCase()] = String(v)),
      getHeader: (k: string) => responseHeaders[k.toLowerCase()],
      status(code: number) {
        out.status = code;
        res.statusCode = code;
        return res;
      },
      set(k: string, v: string) {
        res.setHeader(k, v);
        return res;
      },
      send(payload: unknown) {
        out.body = payload;
        resolve();
      },
      json(payload: unknown) {
        out.body = payload;
        resolve();
      },
      end() {
        resolve();
      },
      write: () => true,
    });
    void fn(req, res);
  });
  await finished;
  return out;
}
