/**
 * Browser side of `npm run bench:offline` (bundled with esbuild, served by the bench): keeps a
 * bundle in Cache Storage as the try page does, loads it from there and identifies photos,
 * timing each step with the page's own clock.
 */
import { loadOfflineBundle, type OfflineModel } from '@wildlens/offline-runtime';
import { decodePhoto, initBrowserBackend } from '@wildlens/offline-runtime/browser';

const CACHE = 'wildlens-bench-bundle';
let model: OfflineModel | null = null;

async function install(manifestUrl: string): Promise<void> {
  const manifest = (await (await fetch(manifestUrl)).json()) as { files: { path: string }[] };
  const cache = await caches.open(CACHE);
  const base = new URL('.', new URL(manifestUrl, location.href));
  for (const file of manifest.files) await cache.add(new URL(file.path, base).href);
  await cache.put('/cached/bundle.json', new Response(JSON.stringify(manifest)));
  await cache.put('/cached/base', new Response(base.href));
}

/** First load from cache: backend start, every file read and checked, graphs built and warmed up. */
async function load(
  prefer?: 'webgl' | 'wasm',
): Promise<{ ms: number; backend: string; detail: string }> {
  const start = performance.now();
  const backend = await initBrowserBackend({
    wasmPaths: '/tfjs-wasm/',
    ...(prefer ? { prefer } : {}),
  });
  const cache = await caches.open(CACHE);
  const manifest = await (await cache.match('/cached/bundle.json'))!.json();
  const base = await (await cache.match('/cached/base'))!.text();
  model = await loadOfflineBundle(manifest, {
    readFile: async (p) =>
      new Uint8Array(await (await cache.match(new URL(p, base).href))!.arrayBuffer()),
  });
  return { ms: performance.now() - start, backend: backend.name, detail: backend.detail };
}

async function identify(url: string) {
  const blob = await (await fetch(url)).blob();
  const start = performance.now();
  const result = model!.identify(await decodePhoto(blob, { shortSide: model!.workingShortSide }));
  return {
    ms: performance.now() - start,
    timings: result.timingsMs,
    verdict: result.verdict,
    probabilities: result.probabilities,
    domain: result.domain ?? null,
  };
}

Object.assign(window, { bench: { install, load, identify } });
