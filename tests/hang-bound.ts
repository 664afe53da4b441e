/**
 * No test may pass or fail with the machine's speed: CI has 2 busy cores and may run several
 * times slower than a developer's machine. Every timeout of the tests (Vitest's, and the
 * deadlines of their polling waits) only bounds a hang, far above any measured duration; what
 * must be fast is kept fast by design (unit files ≤ 10 s here; `npm test` prints the slowest)
 * and speed targets are checked by the benchmark scripts, which print numbers.
 */
export const HANG_BOUND_MS = 15 * 60_000;

/**
 * The bound of one wait inside a test (a Playwright locator or page wait, a callable's client
 * timeout): a third of the test's own, so that a hung step fails with its own message (which
 * element, which call) before Vitest's timeout does. It too only bounds a hang (5 min): the
 * slowest such step is a callable's first call, which loads the function in the emulator and
 * took up to a few minutes on a busy machine (the tests used to allow it 180–240 s).
 */
export const STEP_HANG_BOUND_MS = HANG_BOUND_MS / 3;
