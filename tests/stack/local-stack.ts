/**
 * Drives `npm start`'s launcher (scripts/start.ts) as a developer would: started in its own
 * process group, its console read line by line, stopped with Ctrl+C (SIGINT to the group, as a
 * terminal sends it) or killed. Used by the tests of the saved local state.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT } from '../../scripts/emulators/stack.js';
import { HANG_BOUND_MS } from '../hang-bound.js';

/**
 * `npm start`'s own waits, raised to a hang's bound (tests/hang-bound.ts): how long it waits for
 * the emulators (4 min for a user), and how long the Functions emulator waits for a worker to
 * start (180 s) before it drops the event.
 */
const HANG_BOUNDED_START = {
  WILDLENS_START_WAIT_MINUTES: String(HANG_BOUND_MS / 60_000),
  FUNCTIONS_DISCOVERY_TIMEOUT: String(HANG_BOUND_MS / 1000),
};

export class LocalStackProcess {
  readonly lines: string[] = [];
  private readonly child: ChildProcess;
  private waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  readonly exited: Promise<number>;
  running = true;

  constructor(args: string[], env: Record<string, string>) {
    // A developer's shell: no emulator addresses exported (this test process sets them for
    // its Admin SDK).
    const shell = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.endsWith('EMULATOR_HOST')),
    );
    // As `npm start` runs it: one node process (the tsx CLI would SIGKILL a launcher too busy
    // to acknowledge a Ctrl+C within 60 ms).
    this.child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts', ...args], {
      cwd: REPO_ROOT,
      env: { ...shell, ...HANG_BOUNDED_START, ...env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let partial = '';
    const onData = (chunk: Buffer) => {
      partial += chunk.toString();
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) this.onLine(line);
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        this.running = false;
        if (partial) this.onLine(partial);
        resolve(code ?? (signal ? 128 : 1));
      }),
    );
  }

  private onLine(line: string): void {
    this.lines.push(line);
    if (process.env.WILDLENS_STACK_TEST_ECHO) console.log(`  │ ${line}`);
    this.waiters = this.waiters.filter((w) => {
      if (!w.re.test(line)) return true;
      w.resolve(line);
      return false;
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get output(): string {
    return this.lines.join('\n');
  }

  /** The first console line matching `re` (already printed or to come); the timeout only bounds a hang. */
  waitFor(re: RegExp, timeoutMs = HANG_BOUND_MS): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${re} not printed after ${timeoutMs} ms:\n${this.output}`)),
        timeoutMs,
      );
      this.waiters.push({
        re,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`npm start exited before printing ${re}:\n${this.output}`));
      });
    });
  }

  /** Ctrl+C in a terminal: SIGINT to the whole foreground process group. */
  async ctrlC(): Promise<number> {
    process.kill(-this.pid, 'SIGINT');
    return this.exited;
  }

  /** The launcher killed without a chance to clean up (its emulators keep running). */
  async killLauncher(): Promise<void> {
    process.kill(-this.pid, 'SIGKILL');
    await this.exited;
  }
}
