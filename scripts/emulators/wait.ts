import { PROJECT_ID, emulatorPorts } from './stack.js';

/** Base URL of the functions in the running suite (set by the launcher, else the default). */
export function functionsOrigin(env: NodeJS.ProcessEnv = process.env): string {
  return (
    env.WILDLENS_FUNCTIONS_ORIGIN ??
    `http://127.0.0.1:${emulatorPorts(env).functions}/${PROJECT_ID}/europe-west1`
  );
}

/** Resolves once the functions emulator serves the health endpoint (all functions loaded). */
export async function waitForFunctions(timeoutMs: number): Promise<void> {
  const healthUrl = `${functionsOrigin()}/health`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(healthUrl, { signal: AbortSignal.timeout(10_000) });
      if (res.status === 200 || res.status === 503) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Les émulateurs ne répondent pas après ${timeoutMs / 1000} s (${healthUrl}).`,
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
