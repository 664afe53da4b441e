/**
 * Runs one command inside `firebase emulators:exec`, with the stack planned for this machine
 * (online or offline, see stack.ts). Used by `npm test` and the benchmarks. The suite runs in
 * its own process group, and whatever is left of that group is killed afterwards: a suite that
 * ends badly can otherwise leave a Firestore JVM behind holding its ports.
 */
import { spawn } from 'node:child_process';
import {
  ALL_EMULATORS,
  PROJECT_ID,
  REPO_ROOT,
  StackError,
  describePlan,
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
  return code;
}
