/**
 * An HTTP proxy in front of the Storage emulator that breaks connections the way the emulator
 * did under load, for tests of the trainer's retry policy:
 *   - `hang-up`: the connection is destroyed as soon as the request arrives, before any answer
 *     (the client sees "socket hang up", ECONNRESET);
 *   - `truncate` (downloads only): the answer's headers and half of its body are sent, then the
 *     connection is destroyed (@google-cloud/storage 7 then waits forever).
 *
 * Which requests fail is drawn by a seeded generator keyed by the request (method and URL), not
 * by arrival order: the same seed breaks the same requests whatever the machine's speed or the
 * client's concurrency. A request fails at most once (its retry goes through), so a client that
 * retries always gets there, and one that does not always fails.
 */
import { createHash } from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export type StorageFault = 'hang-up' | 'truncate';

export interface StorageFaultProxyOptions {
  /** The Storage emulator, `host:port`. */
  upstream: string;
  seed: number;
  /** Share of distinct requests that fail once, in [0, 1]. */
  rate: number;
  /** Faults to draw from (default both; `truncate` applies to downloads only). */
  faults?: StorageFault[];
}

export interface StorageFaultStats {
  requests: number;
  hangUps: number;
  truncated: number;
}

/** Seeded uniform draw in [0, 1) for one key. */
function draw(seed: number, key: string, salt: string): number {
  return createHash('sha256').update(`${seed}\0${salt}\0${key}`).digest().readUInt32BE(0) / 2 ** 32;
}

export class StorageFaultProxy {
  readonly stats: StorageFaultStats = { requests: 0, hangUps: 0, truncated: 0 };
  private readonly failedOnce = new Set<string>();
  private readonly server: Server;
  private readonly upstream: { host: string; port: number };

  constructor(private readonly options: StorageFaultProxyOptions) {
    const [host, port] = options.upstream.replace(/^https?:\/\//, '').split(':');
    this.upstream = { host: host as string, port: Number(port) };
    this.server = createServer((req, res) => this.handle(req, res));
    // Idle connections stay open: a close racing the client's reuse would be an extra fault.
    this.server.keepAliveTimeout = 0;
  }

  /** Listens on 127.0.0.1; returns `host:port` for FIREBASE_STORAGE_EMULATOR_HOST. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  get faults(): number {
    return this.stats.hangUps + this.stats.truncated;
  }

  /** The fault this request gets, if any: each distinct request fails at most once. */
  private faultFor(req: IncomingMessage): StorageFault | undefined {
    const key = `${req.method} ${req.url}`;
    if (this.failedOnce.has(key)) return undefined;
    if (draw(this.options.seed, key, 'fail') >= this.options.rate) return undefined;
    const isDownload = req.method === 'GET' && /[?&]alt=media\b/.test(req.url ?? '');
    const allowed = (this.options.faults ?? ['hang-up', 'truncate']).filter(
      (f) => f === 'hang-up' || isDownload,
    );
    if (!allowed.length) return undefined;
    this.failedOnce.add(key);
    return allowed[Math.floor(draw(this.options.seed, key, 'kind') * allowed.length)];
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.stats.requests++;
    const fault = this.faultFor(req);
    if (fault === 'hang-up') {
      this.stats.hangUps++;
      req.socket.destroy();
      return;
    }
    const forward = httpRequest(
      {
        ...this.upstream,
        // A fresh connection each time: a stale pooled one would fail on its own.
        agent: false,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: `${this.upstream.host}:${this.upstream.port}` },
      },
      (upstream) => {
        if (fault !== 'truncate') {
          res.writeHead(upstream.statusCode ?? 502, upstream.headers);
          upstream.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        upstream.on('data', (c: Buffer) => chunks.push(c));
        upstream.on('end', () => {
          const body = Buffer.concat(chunks);
          this.stats.truncated++;
          res.writeHead(upstream.statusCode ?? 502, upstream.headers);
          res.write(body.subarray(0, Math.floor(body.length / 2)), () => req.socket.destroy());
        });
      },
    );
    forward.on('error', () => req.socket.destroy());
    req.pipe(forward);
  }
}
