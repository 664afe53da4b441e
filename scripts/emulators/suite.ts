/**
 * Runs one command inside `firebase emulators:exec`, with the stack planned for this machine
 * (online or offline, see stack.ts). Used by `npm test` and the benchmarks. The suite runs in
 * its own process group, and whatever is left of that group is killed afterwards, as is any
 * Java process still listening on the suite's Firestore port (firebase-tools starts that JVM
 * in a process group of its own): a suite that ends badly must not leave a JVM holding a port.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { listeningPid } from './port-owner.js';
import {
  ALL_EMULATORS,
  PROJECT_ID,
  REPO_ROOT,
  StackError,
  describePlan,
  emulatorPorts,
  firebaseBin,
  planEmulatorStack,
} from './stack.js';

export async function execUnderEmulators(
  command: string,
  options: { env?: Record<string, string>; quiet?: boolean } = {},
): Promise<number> {
  let plan;
  try {
    plan = await planEmulatorStack();
  } catch (err) {
    console.error(err instanceof StackError ? err.message : err);
    return 1;
  }
  if (!options.quiet) console.log(`\n${describePlan(plan)}`);
  const args = [
    'emulators:exec',
    '--only',
    ALL_EMULATORS,
    '--project',
    PROJECT_ID,
    ...plan.firebaseArgs,
    command,
  ];
  if (!options.quiet) console.log(`  $ firebase ${args.join(' ')}`);
  return spawnFirebaseSuite(args, { ...plan.env, ...options.env });
}

/** Where firebase-tools' output goes: this terminal, or a log file with only some lines shown. */
export type SuiteOutput =
  { kind: 'inherit' } | { kind: 'file'; logFile: string; onLine: (line: string) => void };

export interface FirebaseSuite {
  /** firebase-tools' pid, also its process group id. */
  pid: number | undefined;
  /** Resolves with firebase-tools' exit code once it and its process group are gone. */
  exited: Promise<number>;
  /** Sends a signal to firebase-tools' process group (nothing when it has exited). */
  signal(signal: NodeJS.Signals): void;
}

/**
 * Starts `firebase <args>` (emulators:exec or emulators:start) in its own process group and,
 * once firebase-tools exits, kills what is left of the group and the Firestore JVM if it is
 * still on its port (firebase-tools starts that JVM in a process group of its own). The caller
 * decides what Ctrl+C does (see spawnFirebaseSuite for the plain forwarding).
 */
export function startFirebaseSuite(
  args: string[],
  env: Record<string, string>,
  output: SuiteOutput = { kind: 'inherit' },
): FirebaseSuite {
  // Only a JVM this suite started is reaped: not another suite's already on the port.
  const firestorePort = emulatorPorts().firestore;
  const portWasFree = listeningPid(firestorePort) === undefined;
  // firebase-tools writes straight into the log file (not through a pipe to this process): if
  // this process is killed, the emulators keep running and logging, and the next `npm start`
  // can save their state (see start.ts). The console lines are read back from the file.
  const logFd = output.kind === 'file' ? openLogFile(output.logFile) : undefined;
  const child = spawn(firebaseBin(), args, {
    cwd: REPO_ROOT,
    stdio: logFd === undefined ? 'inherit' : ['ignore', logFd, logFd],
    env: { ...process.env, ...env },
    detached: true,
  });
  if (logFd !== undefined) closeSync(logFd);
  const tail = output.kind === 'file' ? tailLines(output.logFile, output.onLine) : undefined;
  const signal = (sig: NodeJS.Signals): void => {
    try {
      if (child.pid) process.kill(-child.pid, sig);
    } catch {
      // nothing left in the group: the normal case once it has exited
    }
  };
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code, sig) => {
      signal('SIGKILL');
      if (portWasFree) reapJavaListener(firestorePort);
      tail?.stop();
      resolve(code ?? (sig ? 1 : 0));
    }),
  );
  return { pid: child.pid, exited, signal };
}

/** startFirebaseSuite with Ctrl+C / SIGTERM forwarded to the suite as they come. */
export function spawnFirebaseSuite(args: string[], env: Record<string, string>): Promise<number> {
  const suite = startFirebaseSuite(args, env);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => suite.signal(sig));
  return suite.exited;
}

function openLogFile(file: string): number {
  mkdirSync(path.dirname(file), { recursive: true });
  return openSync(file, 'a');
}

/** Calls `onLine` for each line appended to `file` from now on, until stop(). */
function tailLines(file: string, onLine: (line: string) => void): { stop(): void } {
  let position = statSync(file).size;
  let partial = '';
  // A read may end inside a multi-byte character: the decoder keeps it for the next one.
  const decoder = new StringDecoder('utf8');
  const read = (): void => {
    const size = statSync(file).size;
    if (size <= position) return;
    const buffer = Buffer.alloc(size - position);
    const fd = openSync(file, 'r');
    try {
      readSync(fd, buffer, 0, buffer.length, position);
    } finally {
      closeSync(fd);
    }
    position = size;
    const lines = (partial + decoder.write(buffer)).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  };
  const timer = setInterval(read, 250);
  return {
    stop: () => {
      clearInterval(timer);
      read();
      if (partial) onLine(partial);
    },
  };
}

/** Kills a Java process left listening on `port` (only Java: never someone else's server). */
export function reapJavaListener(port: number): void {
  const pid = listeningPid(port);
  if (!pid) return;
  try {
    const exe = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
    if (/(^|\/)java$/.test(exe)) process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
