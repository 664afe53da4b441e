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
  return spawnFirebaseSuite(args, { ...plan.env, ...options.env });
}

/**
 * Starts `firebase <args>` (emulators:exec or emulators:start) in its own process group,
 * forwards Ctrl+C / SIGTERM to that group, and once firebase-tools exits kills what is left
 * of the group and the Firestore JVM if it is still on its port (firebase-tools starts that
 * JVM in a process group of its own). Resolves with firebase-tools' exit code.
 */
export function spawnFirebaseSuite(args: string[], env: Record<string, string>): Promise<number> {
  // Only a JVM this suite started is reaped: not another suite's already on the port.
  const firestorePort = emulatorPorts().firestore;
  const portWasFree = listeningPid(firestorePort) === undefined;
  const child = spawn(firebaseBin(), args, {
    cwd: REPO_ROOT,
    stdio: 'inherit',
    env: { ...process.env, ...env },
    detached: true,
  });
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // nothing left in the group: the normal case once it has exited
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => signalGroup(signal));
  return new Promise<number>((resolve) =>
    child.on('exit', (code, signal) => {
      signalGroup('SIGKILL');
      if (portWasFree) reapJavaListener(firestorePort);
      resolve(code ?? (signal ? 1 : 0));
    }),
  );
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
