import { PROJECT_ID } from './stack.js';

export const HEALTH_URL = `http://127.0.0.1:5001/${PROJECT_ID}/europe-west1/health`;

/** Resolves once the functions emulator serves the health endpoint (all functions loaded). */
export async function waitForFunctions(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(HEALTH_URL, { signal: AbortSignal.timeout(10_000) });
      if (res.status === 200 || res.status === 503) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Les émulateurs ne répondent pas après ${timeoutMs / 1000} s (${HEALTH_URL}).`,
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
