/**
 * Fault injection on the emulator processes themselves (Linux only): find the process that
 * listens on an emulator's port, remember how it was started (argv, executable, cwd,
 * environment, parent), kill it, and start it again identically. Used by the Firestore
 * restart test; works whatever started the JVM (Google's JAR in official mode, the wrapper JAR
 * of .cache/wildlens in offline mode): the command line found is reused as is.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { isAlive, listeningPid } from '../../scripts/emulators/port-owner.js';
import { STEP_HANG_BOUND_MS } from '../hang-bound.js';

export { isAlive, listeningPid };

export interface ProcessSpec {
  pid: number;
  /** Parent pid (firebase-tools for an emulator it started). */
  ppid: number;
  /** Resolved executable (/proc/<pid>/exe) and the original argv (argv[0] included). */
  exe: string;
  argv: string[];
  cwd: string;
  env: Record<string, string>;
}

/** How `pid` was started, read from /proc, so that it can be started again identically. */
export function captureProcess(pid: number): ProcessSpec {
  const nulSplit = (file: string): string[] =>
    readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0').filter(Boolean);
  const env: Record<string, string> = {};
  for (const entry of nulSplit('environ')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  // /proc/<pid>/stat: "pid (comm) state ppid …", comm may contain spaces or parentheses.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  return {
    pid,
    ppid,
    exe: readlinkSync(`/proc/${pid}/exe`),
    argv: nulSplit('cmdline'),
    cwd: readlinkSync(`/proc/${pid}/cwd`),
    env,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * SIGKILLs `pid` and waits until it is dead and nothing listens on `port` any more (the deadline
 * only bounds a hang: a big JVM takes a while to go on a busy machine).
 */
export async function killHard(
  pid: number,
  port: number,
  timeoutMs = STEP_HANG_BOUND_MS,
  host = '127.0.0.1',
): Promise<void> {
  process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + timeoutMs;
  // Dead, no listening socket left in /proc, and connections refused: the kernel may still
  // accept on a dying process' socket for a moment (seen once in CI right after the kill).
  while (isAlive(pid) || listeningPid(port) !== undefined || (await portAnswers(host, port))) {
    if (Date.now() > deadline) throw new Error(`pid ${pid} still alive or port ${port} still open`);
    await sleep(100);
  }
}

/** Resolves true when a TCP connection to host:port is accepted. */
export function portAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Starts the captured process again: same executable, argv, cwd and environment, output
 * appended to `logFile`. Not detached, so it stays in the process group of the test run (the
 * suite launcher kills that group at the end); in addition a small watchdog stops it (SIGINT,
 * as firebase-tools does) once the original parent (firebase-tools) has exited, so it never
 * outlives the suite that it replaces a piece of. Returns the new pid.
 */
export function respawn(spec: ProcessSpec, logFile: string): number {
  const log = openSync(logFile, 'a');
  try {
    const child = spawn(spec.exe, spec.argv.slice(1), {
      argv0: spec.argv[0],
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', log, log],
      detached: false,
    });
    if (child.pid === undefined) throw new Error(`could not start ${spec.argv.join(' ')}`);
    child.unref();
    if (spec.ppid > 1) {
      const watchdog = spawn(
        '/bin/sh',
        [
          '-c',
          'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; kill -INT "$2" 2>/dev/null',
          'wildlens-emulator-watchdog',
          String(spec.ppid),
          String(child.pid),
        ],
        { stdio: 'ignore', detached: false },
      );
      watchdog.unref();
    }
    return child.pid;
  } finally {
    closeSync(log);
  }
}
