import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildStorageRulesStandIn, isDenyAllStorageRules } from './storage-rules-standin.js';
import { NEEDS } from '../../tests/requirements.js';

const DENY_ALL = `rules_version = '2';

// Everything goes through Cloud Functions.
service firebase.storage {
  match /b/{bucket}/o {
    match /{allPaths=**} {
      allow read, write: if false;
    }
  }
}
`;

const PERMISSIVE = DENY_ALL.replace('if false', 'if true');

const ACCEPTED: [string, string][] = [
  ['the canonical form', DENY_ALL],
  ['no rules_version', DENY_ALL.replace("rules_version = '2';", '')],
  ['double-quoted version', DENY_ALL.replace("'2'", '"2"')],
  ['everything on one line', DENY_ALL.replace(/\/\/.*\n/, '').replace(/\s+/g, ' ')],
  [
    'minimal whitespace',
    "rules_version='2';service firebase.storage{match/b/{b}/o{match/{p=**}{allow read,write:if false;}}}",
  ],
  ['other wildcard names', DENY_ALL.replace('{bucket}', '{b_1}').replace('allPaths', 'rest')],
  ['block comments', DENY_ALL.replace('match /b', '/* never opened */ match /*x*/ /b')],
  ['comment markers inside a comment', DENY_ALL.replace('allow', '/* // */ allow')],
  ['no allow statement (implicit deny)', DENY_ALL.replace('allow read, write: if false;', '')],
  ['CRLF line endings', DENY_ALL.replace(/\n/g, '\r\n')],
];

const REJECTED: [string, string][] = [
  ['if true', PERMISSIVE],
  ['authenticated access', DENY_ALL.replace('if false', 'if request.auth != null')],
  ['a read allow', DENY_ALL.replace('allow read, write: if false;', 'allow read;')],
  [
    'a write allow',
    DENY_ALL.replace('allow read, write: if false;', 'allow write: if false; allow write;'),
  ],
  ['read only denied', DENY_ALL.replace('read, write', 'read')],
  [
    'an extra match block',
    DENY_ALL.replace(
      '    match /{allPaths=**}',
      '    match /public/{file} { allow read; }\n    match /{allPaths=**}',
    ),
  ],
  [
    'an extra allow after the deny',
    DENY_ALL.replace('if false;', 'if false; allow read: if true;'),
  ],
  ['rules_version 1', DENY_ALL.replace("'2'", "'1'")],
  ['another service', DENY_ALL.replace('firebase.storage', 'cloud.firestore')],
  ['a single-segment wildcard', DENY_ALL.replace('allPaths=**', 'allPaths')],
  ['the same wildcard name twice', DENY_ALL.replace('allPaths', 'bucket')],
  ['a reserved word as wildcard', DENY_ALL.replace('allPaths', 'if')],
  ['a split keyword', DENY_ALL.replace('allow', 'al low')],
  [
    'a function declaration',
    DENY_ALL.replace('match /b', 'function f() { return true; }\n  match /b'),
  ],
  ['trailing content', `${DENY_ALL}\nservice firebase.storage {}`],
  ['an unterminated comment', `${DENY_ALL}/*`],
  ['an empty file', ''],
  [
    'comment markers hidden in a string',
    "rules_version = '2/*'; service firebase.storage { match /b/{b}/o { match /{p=**} { allow read, write: if true; } } } '*/';",
  ],
];

describe('isDenyAllStorageRules', () => {
  it.each(ACCEPTED)('accepts %s', (_label, source) => {
    expect(isDenyAllStorageRules(source)).toBe(true);
  });

  it.each(REJECTED)('rejects %s', (_label, source) => {
    expect(isDenyAllStorageRules(source)).toBe(false);
  });
});

const javaAvailable =
  spawnSync('javac', ['-version']).status === 0 && spawnSync('java', ['-version']).status === 0;
if (!javaAvailable) {
  console.warn('Tests du processus ignorés : JDK (java + javac) absent / JDK not found, skipping.');
}

/** Talks NDJSON to the jar exactly as firebase-tools' StorageRulesRuntime does. */
class RulesRuntimeClient {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly pending: string[] = [];
  private readonly waiters: ((line: string) => void)[] = [];
  stderr = '';

  constructor(jarPath: string) {
    // Same command as firebase-tools' Commands.storage in downloadableEmulators.js.
    this.child = spawn('java', ['-Duser.language=en', '-jar', jarPath, 'serve'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (line) => {
      const waiter = this.waiters.shift();
      if (waiter) waiter(line);
      else this.pending.push(line);
    });
  }

  async nextMessage(): Promise<Record<string, unknown>> {
    const line =
      this.pending.shift() ?? (await new Promise<string>((resolve) => this.waiters.push(resolve)));
    return JSON.parse(line) as Record<string, unknown>;
  }

  async request(message: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.sendRaw(JSON.stringify(message));
  }

  async sendRaw(line: string): Promise<Record<string, unknown>> {
    this.child.stdin.write(`${line}\n`);
    return this.nextMessage();
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(): Promise<number | null> {
    this.child.stdin.end();
    if (!this.alive) return this.child.exitCode;
    return new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }
}

// Shapes copied from firebase-tools 14.27.0 lib/emulator/storage/rules/runtime.js:
// {...bundle, id} with bundle = { action, context }.
function loadRulesetRequest(id: number, rulesetName: string, content: string) {
  return {
    action: 'load_ruleset',
    context: {
      rulesetName,
      source: { files: [{ name: '/tmp/project/storage.rules', content }] },
    },
    id,
  };
}

function verifyRequest(id: number, rulesetName: string, method: string) {
  const objectPath = '/b/demo-standin.appspot.com/o/photos/a.jpg';
  return {
    action: 'verify',
    context: {
      rulesetName,
      service: 'firebase.storage',
      path: objectPath,
      method,
      variables: {
        resource: { null_value: null },
        request: {
          map_value: {
            fields: {
              path: {
                path_value: {
                  segments: objectPath
                    .split('/')
                    .filter((segment) => segment)
                    .map((simple) => ({ simple })),
                },
              },
              time: { timestamp_value: new Date().toISOString() },
              resource: {
                map_value: {
                  fields: { name: { string_value: 'photos/a.jpg' } },
                },
              },
              auth: { null_value: null },
            },
          },
        },
      },
    },
    id,
  };
}

/** The part of firebase-tools' untyped StorageRulesRuntime used here. */
interface FirebaseToolsRulesRuntime {
  start(autoDownload: boolean): Promise<void>;
  stop(): Promise<void>;
  loadRuleset(source: { files: { name: string; content: string }[] }): Promise<{
    issues: { errors: string[]; all: string[] };
    ruleset?: {
      verify(opts: {
        method: string;
        path: string;
        file: object;
        projectId: string;
      }): Promise<{ permitted?: boolean }>;
    };
  }>;
}

describe.skipIf(!javaAvailable)('stand-in rules runtime process', NEEDS.jdk, () => {
  let cacheDir = '';
  let jarPath = '';

  beforeAll(async () => {
    cacheDir = await mkdtemp(path.join(os.tmpdir(), 'storage-rules-standin-'));
    jarPath = await buildStorageRulesStandIn(cacheDir);
  });

  afterAll(async () => {
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
  });

  it('builds a content-addressed jar and reuses it', async () => {
    expect(path.basename(jarPath)).toMatch(/^storage-rules-standin-[0-9a-f]{12}\.jar$/);
    const before = await stat(jarPath);
    expect(await buildStorageRulesStandIn(cacheDir)).toBe(jarPath);
    expect((await stat(jarPath)).mtimeMs).toBe(before.mtimeMs);
  });

  it('speaks the firebase-tools rules runtime protocol and only serves deny-all', async () => {
    const runtime = new RulesRuntimeClient(jarPath);
    try {
      expect(await runtime.nextMessage()).toMatchObject({
        id: -1,
        status: 'ok',
      });

      expect(await runtime.request(loadRulesetRequest(0, '0', DENY_ALL))).toEqual({
        id: 0,
        status: 'ok',
        result: { rulesVersion: 2 },
        warnings: [],
        errors: [],
      });
      for (const [offset, method] of ['create', 'get', 'list', 'update', 'delete'].entries()) {
        expect(await runtime.request(verifyRequest(1 + offset, '0', method))).toEqual({
          id: 1 + offset,
          status: 'ok',
          result: { permit: false },
          warnings: [],
          errors: [],
        });
      }

      const refused = await runtime.request(loadRulesetRequest(6, '1', PERMISSIVE));
      expect(refused).toMatchObject({ id: 6, status: 'ok', warnings: [] });
      expect(refused).not.toHaveProperty('result');
      expect(refused.errors).toEqual([
        expect.stringContaining('/tmp/project/storage.rules is not deny-all'),
      ]);

      // A refused ruleset is never usable for verification.
      const unloaded = await runtime.request(verifyRequest(7, '1', 'get'));
      expect(unloaded).toMatchObject({
        id: 7,
        status: 'error',
        action: 'verify',
      });
      expect(unloaded.errors).toEqual([expect.stringContaining('was not loaded')]);
      expect(unloaded).not.toHaveProperty('result');

      const garbage = await runtime.sendRaw('this is not json');
      expect(garbage).toMatchObject({ id: null, status: 'error' });
      expect(garbage.errors).toEqual([expect.stringContaining('malformed request')]);

      const unknown = await runtime.request({
        action: 'fetch_everything',
        context: {},
        id: 8,
      });
      expect(unknown).toMatchObject({
        id: 8,
        status: 'error',
        action: 'fetch_everything',
      });
      expect(unknown.errors).toEqual([expect.stringContaining('unsupported action')]);

      // Still serving after the bad lines.
      expect(await runtime.request(verifyRequest(9, '0', 'write'))).toMatchObject({
        id: 9,
        result: { permit: false },
      });
      expect(runtime.alive).toBe(true);
      expect(runtime.stderr).toBe('');
    } finally {
      expect(await runtime.stop()).toBe(0);
    }
  });

  it('recognises exactly the same sources as isDenyAllStorageRules', async () => {
    const runtime = new RulesRuntimeClient(jarPath);
    try {
      await runtime.nextMessage();
      const cases = [...ACCEPTED, ...REJECTED];
      for (const [index, [label, source]] of cases.entries()) {
        const reply = await runtime.request(loadRulesetRequest(index, `case-${index}`, source));
        const javaAccepts = (reply.errors as unknown[]).length === 0 && 'result' in reply;
        expect(javaAccepts, label).toBe(isDenyAllStorageRules(source));
      }
    } finally {
      await runtime.stop();
    }
  });

  it('works with firebase-tools’ own StorageRulesRuntime client', async () => {
    // downloadableEmulators.js reads the override when first loaded.
    process.env.STORAGE_EMULATOR_BINARY_PATH = jarPath;
    const require = createRequire(import.meta.url);
    const { StorageRulesRuntime } =
      require('firebase-tools/lib/emulator/storage/rules/runtime.js') as {
        StorageRulesRuntime: new () => FirebaseToolsRulesRuntime;
      };
    const runtime = new StorageRulesRuntime();
    try {
      await runtime.start(false);
      const denyAll = await runtime.loadRuleset({
        files: [{ name: 'storage.rules', content: DENY_ALL }],
      });
      expect(denyAll.issues.all).toEqual([]);
      const verdict = await denyAll.ruleset?.verify({
        method: 'create',
        path: 'b/demo-standin.appspot.com/o/x',
        file: {},
        projectId: 'demo-standin',
      });
      expect(verdict?.permitted).toBe(false);

      const permissive = await runtime.loadRuleset({
        files: [{ name: 'storage.rules', content: PERMISSIVE }],
      });
      expect(permissive.ruleset).toBeUndefined();
      expect(permissive.issues.errors).toEqual([expect.stringContaining('is not deny-all')]);
    } finally {
      await runtime.stop();
      delete process.env.STORAGE_EMULATOR_BINARY_PATH;
    }
  });
});
