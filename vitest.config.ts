import { defineConfig } from 'vitest/config';
import { HANG_BOUND_MS, STEP_HANG_BOUND_MS } from './tests/hang-bound.js';
import { TEST_REQUIREMENTS } from './tests/requirements.js';

/**
 * expect.poll's default deadline is one second: a poll only bounds a hang too (a step's bound,
 * tests/hang-bound.ts), or its pass would depend on the machine's speed.
 */
const expectOptions = { poll: { timeout: STEP_HANG_BOUND_MS } };

export default defineConfig({
  test: {
    // Skip reasons of `npm test`'s summary (see tests/requirements.ts).
    tags: TEST_REQUIREMENTS.map((r) => ({ name: r.name, description: r.description })),
    // Timeouts only bound a hang (tests/hang-bound.ts).
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'packages/*/src/**/*.test.ts',
            'functions/src/**/*.test.ts',
            'trainer/src/**/*.test.ts',
            'scripts/**/*.test.ts',
            'hosting/src/**/*.test.ts',
            'tests/helpers/**/*.test.ts',
          ],
          testTimeout: HANG_BOUND_MS,
          hookTimeout: HANG_BOUND_MS,
          expect: expectOptions,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          globalSetup: ['tests/e2e/global-setup.ts'],
          setupFiles: ['tests/e2e/reset-emulators.ts'],
          // One emulator suite is shared: files run one after another.
          fileParallelism: false,
          testTimeout: HANG_BOUND_MS,
          hookTimeout: HANG_BOUND_MS,
          expect: expectOptions,
        },
      },
      {
        test: {
          name: 'stack',
          include: ['tests/stack/**/*.test.ts'],
          // Each test starts and stops `npm start`'s stack on the same ports: one at a time.
          fileParallelism: false,
          // Each test is several starts of the stack, with imports and training runs.
          testTimeout: 2 * HANG_BOUND_MS,
          hookTimeout: HANG_BOUND_MS,
          expect: expectOptions,
        },
      },
    ],
  },
});
