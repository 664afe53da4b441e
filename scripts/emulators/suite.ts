/**
 * Runs one command inside `firebase emulators:exec`, with the stack planned for this machine
 * (online or offline, see stack.ts). Used by `npm test` and the benchmarks. The suite runs in
 * its own process group, and whatever is left of that group is killed afterwards, as is any
 * Java process still listening on the suite's Firestore port (firebase-tools starts that JVM
 * in a process group of its own): a suite that ends badly must not leave a JVM holding a port.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
  // Only a JVM this suite started is reaped: not another suite's already on the port.
  const firestorePort = emulatorPorts().firestore;
  const portWasFree = listeningPid(firestorePort) === undefined;
  const child = spawn(firebaseBin(), args, {
    cwd: REPO_ROOT,
    stdio: 'inherit',
    env: { ...process.env, ...plan.env, ...options.env },
    detached: true,
  });
  const forward = (signal: NodeJS.Signals) => () => child.pid && process.kill(-child.pid, signal);
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  const code = await new Promise<number>((resolve) =>
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))),
  );
  try {
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // nothing left in the group: the normal case
  }
  if (portWasFree) reapJavaListener(firestorePort);
  return code;
}

/** Kills a Java process left listening on `port` (only Java: never someone else's server). */
function reapJavaListener(port: number): void {
  const pid = listeningPid(port);
  if (!pid) return;
  try {
    const exe = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
    if (/(^|\/)java$/.test(exe)) process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
