/**
 * Hostile soak (a script, not a test) against the Emulator Suite, from loopback only:
 *   npm run soak [-- --json] [--hostile 300] [--valid 300] [--lanes 4] [--minutes 20]
 * Outside the emulators it re-runs itself under `firebase emulators:exec` (honours
 * WILDLENS_PORT_OFFSET). Inside, it installs the fixture model, then sends `--hostile` hostile
 * requests interleaved with `--valid` valid identifications over `--lanes` concurrent lanes,
 * and stops by itself at the deadline. It prints:
 *   - crashes: hostile or valid requests answered 500 / `internal`, or whose connection died
 *     although the client did not hang up (what a killed instance looks like);
 *   - valid requests answered (identified) out of those sent;
 *   - peak RSS of the functions workers (each emulated instance is a process), summed and
 *     the largest one;
 *   - p50 / p95 latency of the valid identifications.
 * The hostile mix: truncated and abandoned multipart bodies, header bombs and 10:1+ strips,
 * `__proto__` payloads, reserved ids and cursors, garbage base64, oversized payloads, bad
 * tokens, a quota burst of one anonymous account, feedback racing a deletion.
 */
import { readFile, readdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import sharp from 'sharp';
import { signInAnonymously } from 'firebase/auth';
import { FunctionsError, httpsCallable } from 'firebase/functions';
import { ensureUnderEmulators, percentile } from './bench/support.js';
import { REPO_ROOT } from './emulators/stack.js';
import type { Client } from '../tests/e2e/support.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const option = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  return Number.isFinite(value) && value > 0 ? value : fallback;
};
const HOSTILE = option('hostile', 300);
const VALID = option('valid', 300);
const LANES = option('lanes', 4);
const DEADLINE_MS = option('minutes', 20) * 60_000;

await ensureUnderEmulators(import.meta.url, args, json);

// Inside `firebase emulators:exec` from here on.
const { waitForFunctions } = await import('./emulators/wait.js');
const { seedSpeciesCatalog } = await import('./seed/species.js');
const support = await import('../tests/e2e/support.js');
const fixtures = await import('../tests/e2e/model-fixture.js');
const log = (m: string) => {
  if (!json) console.log(m);
};

await waitForFunctions(180_000);
await seedSpeciesCatalog(support.adminDb());
const fixture = await fixtures.trainFixtureModel({ log });
await fixtures.installFixtureModel(support.adminBucket(), support.adminDb(), fixture);
log(`modèle ${fixture.version} (${fixture.source}) installé`);

// ---------------------------------------------------------------------------------------------
// Memory of the functions workers, sampled while the soak runs
// ---------------------------------------------------------------------------------------------

/** RSS (bytes) of every functions emulator worker of this checkout. */
async function workerRss(): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('functionsEmulatorRuntime') || !cmd.includes(REPO_ROOT)) continue;
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      out.push(kb * 1024);
    } catch {
      // the process ended between the listing and the read
    }
  }
  return out;
}
let peakTotal = 0;
let peakWorker = 0;
let workers = 0;
const sampler = setInterval(() => {
  void workerRss().then((rss) => {
    peakTotal = Math.max(
      peakTotal,
      rss.reduce((a, b) => a + b, 0),
    );
    peakWorker = Math.max(peakWorker, ...rss, 0);
    workers = Math.max(workers, rss.length);
  });
}, 500);

// ---------------------------------------------------------------------------------------------
// Clients and material
// ---------------------------------------------------------------------------------------------

const IDENTIFY_URL = `${support.FUNCTIONS_ORIGIN}/identify`;
const hikers = await Promise.all(Array.from({ length: 20 }, () => support.signedInClient()));
const attackers = await Promise.all(Array.from({ length: 10 }, () => support.signedInClient()));
const photos = (await fixtures.footprintPhotos(2, 3)).map((p) => p.file);
const validPhotos = photos.length
  ? await Promise.all(photos.map((f) => readFile(f)))
  : await Promise.all([0, 1, 2].map((k) => fixtures.syntheticFootprint(k, 1)));
const validBase64 = validPhotos.map((p) => p.toString('base64'));

const solid = (w: number, h: number) =>
  sharp({ create: { width: w, height: h, channels: 3, background: '#654' } });
const strip = await solid(64, 6400).png().toBuffer();
const headerStrip = await solid(64, 64).png().toBuffer();
headerStrip.writeUInt32BE(625_000, 20);
const bomb = await solid(64, 64).png().toBuffer();
bomb.writeUInt32BE(30_000, 16);
bomb.writeUInt32BE(30_000, 20);

async function multipart(photo: Buffer, field = 'photo'): Promise<{ body: Buffer; type: string }> {
  const form = new FormData();
  form.append(field, new Blob([new Uint8Array(photo)], { type: 'image/jpeg' }), 'p.jpg');
  form.append('lat', '45.2');
  form.append('lng', '5.7');
  const req = new Request(IDENTIFY_URL, { method: 'POST', body: form });
  return {
    body: Buffer.from(await req.arrayBuffer()),
    type: req.headers.get('content-type') ?? '',
  };
}
const token = async (c: { auth: { currentUser: { getIdToken(): Promise<string> } | null } }) =>
  `Bearer ${await c.auth.currentUser?.getIdToken()}`;

type Outcome = 'ok' | 'refused' | 'crash';

/** HTTP answer: 5xx other than a deliberate 503 is a crash; 4xx and 503 are clean refusals. */
async function post(body: Buffer, type: string, authorization: string): Promise<Outcome> {
  try {
    const res = await fetch(IDENTIFY_URL, {
      method: 'POST',
      headers: { Authorization: authorization, 'Content-Type': type },
      body: new Uint8Array(body),
    });
    await res.arrayBuffer();
    if (res.status === 200) return 'ok';
    return res.status >= 500 && res.status !== 503 ? 'crash' : 'refused';
  } catch {
    return 'crash'; // the connection died under us: what a killed worker looks like
  }
}

async function callable(c: Client, name: string, data: unknown): Promise<Outcome> {
  try {
    await httpsCallable(c.functions, name, { timeout: 120_000 })(data);
    return 'ok';
  } catch (err) {
    if (err instanceof FunctionsError && err.code !== 'functions/internal') return 'refused';
    return 'crash';
  }
}

/** A client that sends half its body and hangs up: nothing to answer, nothing may break. */
function abandonedUpload(body: Buffer, type: string, authorization: string): Promise<Outcome> {
  const url = new URL(IDENTIFY_URL);
  return new Promise((resolve) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          Authorization: authorization,
          'Content-Type': type,
          'Content-Length': body.length,
        },
      },
      () => resolve('refused'),
    );
    req.on('error', () => resolve('refused')); // we hung up: an error here is ours
    req.write(body.subarray(0, Math.floor(body.length / 3)));
    setTimeout(() => {
      req.destroy();
      resolve('refused');
    }, 50);
  });
}

const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256));

/** The hostile request number `n` (cycling through every kind). */
async function hostile(n: number): Promise<Outcome> {
  const attacker = attackers[n % attackers.length] as Client;
  const auth = await token(attacker);
  const kind = n % 16;
  switch (kind) {
    case 0: {
      const { body, type } = await multipart(validPhotos[0] as Buffer);
      return post(body.subarray(0, Math.floor(body.length / 2)), type, auth);
    }
    case 1: {
      const { body, type } = await multipart(validPhotos[0] as Buffer);
      return post(body.subarray(0, body.length - 6), type, auth);
    }
    case 2:
      return callable(attacker, 'identifyFootprint', { photo: headerStrip.toString('base64') });
    case 3: {
      const { body, type } = await multipart(strip);
      return post(body, type, auth);
    }
    case 4:
      return callable(attacker, 'identifyFootprint', { photo: bomb.toString('base64') });
    case 5: {
      // What the callable protocol makes of {"__proto__": {...}}: a payload with a prototype.
      const res = await fetch(`${support.FUNCTIONS_ORIGIN}/identifyFootprint`, {
        method: 'POST',
        headers: { Authorization: auth, 'Content-Type': 'application/json' },
        body: `{"data": {"__proto__": {"photo": "${validBase64[0]}"}}}`,
      }).catch(() => null);
      if (!res) return 'crash';
      await res.arrayBuffer();
      return res.status >= 500 ? 'crash' : 'refused';
    }
    case 6:
      return callable(attacker, 'getObservation', {
        observationId: ['__name__', '..', 'a/b'][n % 3],
      });
    case 7:
      return callable(attacker, 'listObservations', {
        cursor: cursor({ t: [1e308, -5, 1.5][n % 3], id: '__x__' }),
      });
    case 8:
      return callable(attacker, 'identifyFootprint', { photo: 'ceci n’est pas du base64 !' });
    case 9:
      return callable(attacker, 'identifyFootprint', { photo: garbage.toString('base64') });
    case 10: {
      const { body, type } = await multipart(validPhotos[0] as Buffer, 'image');
      return post(body.subarray(0, Math.floor(body.length * 0.7)), type, auth);
    }
    case 11: {
      const { body, type } = await multipart(validPhotos[0] as Buffer);
      return abandonedUpload(body, type, auth);
    }
    case 12: {
      const { body, type } = await multipart(validPhotos[0] as Buffer);
      return post(body, type, 'Bearer faux-jeton');
    }
    case 13:
      return callable(attacker, 'setObservationFeedback', {
        observationId: 'abc',
        correctedSpeciesId: { toString: 'boom' },
      });
    case 14: {
      // One fresh anonymous account bursting 8 calls at once: 5 pass the quota, 3 are refused.
      const anon = support.client();
      await signInAnonymously(anon.auth);
      const burst = await Promise.all(
        Array.from({ length: 8 }, () => callable(anon, 'identifyFootprint', { photo: '' })),
      );
      return burst.includes('crash') ? 'crash' : 'refused';
    }
    default: {
      const extra = 11 * 1024 * 1024;
      return callable(attacker, 'identifyFootprint', {
        photo: 'A'.repeat(Math.ceil(extra / 3) * 4),
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The soak: hostile and valid requests interleaved over a few lanes, bounded in time
// ---------------------------------------------------------------------------------------------

const tasks: ({ kind: 'valid'; n: number } | { kind: 'hostile'; n: number })[] = [];
for (let i = 0; i < Math.max(HOSTILE, VALID); i++) {
  if (i < HOSTILE) tasks.push({ kind: 'hostile', n: i });
  if (i < VALID) tasks.push({ kind: 'valid', n: i });
}
const started = Date.now();
const latencies: number[] = [];
const crashes: string[] = [];
let validAnswered = 0;
let validSent = 0;
let hostileSent = 0;
let hostileRefused = 0;
let next = 0;
await Promise.all(
  Array.from({ length: LANES }, async () => {
    while (next < tasks.length && Date.now() - started < DEADLINE_MS) {
      const task = tasks[next++]!;
      if (task.kind === 'valid') {
        validSent++;
        const hiker = hikers[task.n % hikers.length] as Client;
        const t = performance.now();
        const outcome = await callable(hiker, 'identifyFootprint', {
          photo: validBase64[task.n % validBase64.length],
          location: { lat: 45.19, lng: 5.72, accuracyM: 10 },
        });
        if (outcome === 'ok') {
          validAnswered++;
          latencies.push(performance.now() - t);
        } else if (outcome === 'crash') crashes.push(`valid #${task.n}`);
      } else {
        hostileSent++;
        const outcome = await hostile(task.n);
        if (outcome === 'crash') crashes.push(`hostile #${task.n} (kind ${task.n % 16})`);
        else hostileRefused++;
      }
      if ((validSent + hostileSent) % 100 === 0) {
        log(`  ${validSent + hostileSent} requêtes, ${crashes.length} plantage(s)…`);
      }
    }
  }),
);
clearInterval(sampler);
const health = await fetch(`${support.FUNCTIONS_ORIGIN}/health`).then(
  (r) => r.status,
  () => 0,
);
latencies.sort((a, b) => a - b);
const mb = (bytes: number) => Math.round(bytes / (1024 * 1024));
const result = {
  hostileSent,
  hostileRefusedCleanly: hostileRefused,
  validSent,
  validAnswered,
  crashes: crashes.length,
  crashDetails: crashes.slice(0, 10),
  peakRssMb: { allWorkers: mb(peakTotal), largestWorker: mb(peakWorker), workers },
  validLatencyMs: {
    p50: Math.round(percentile(latencies, 50)),
    p95: Math.round(percentile(latencies, 95)),
  },
  healthAfter: health,
  seconds: Math.round((Date.now() - started) / 1000),
  lanes: LANES,
  model: fixture.source,
};
log('');
log(
  `Soak hostile : ${hostileSent} requêtes hostiles + ${validSent} identifications valides, ${LANES} voies, ${result.seconds} s`,
);
log(
  `  plantages                 : ${result.crashes}${crashes.length ? ` (${crashes.slice(0, 5).join(', ')})` : ''}`,
);
log(`  valides servies           : ${validAnswered}/${validSent}`);
log(`  hostiles refusées proprement : ${hostileRefused}/${hostileSent}`);
log(
  `  RSS max des workers       : ${result.peakRssMb.allWorkers} Mo au total (${workers} workers), ${result.peakRssMb.largestWorker} Mo pour le plus gros`,
);
log(
  `  latence des valides       : p50 ${result.validLatencyMs.p50} ms, p95 ${result.validLatencyMs.p95} ms`,
);
log(`  /health après             : ${health}`);
if (json) console.log(JSON.stringify(result));
await support.closeAdmin();
process.exit(crashes.length === 0 && validAnswered === validSent && validSent === VALID ? 0 : 1);
