/**
 * A barrier to order racing steps without sleeping: pass `wait` as a hook; the code under test
 * pauses there, `reached` resolves, the test does what must happen meanwhile, then `release()`.
 */
export interface Barrier {
  /** The hook: marks the barrier reached, then waits for release(). */
  wait: () => Promise<void>;
  /** Resolves once the code under test is paused at the barrier. */
  reached: Promise<void>;
  release: () => void;
}

export function barrier(): Barrier {
  let arrive = (): void => undefined;
  let release = (): void => undefined;
  const reached = new Promise<void>((resolve) => (arrive = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  return {
    wait: async () => {
      arrive();
      await released;
    },
    reached,
    release,
  };
}
