/**
 * Bundles the admin pages (hosting/src/pages/*.ts) with esbuild into hosting/public/assets/:
 * the Firebase JS SDK and Chart.js are bundled (no CDN: the site must work offline against the
 * emulators). ESM code splitting puts the SDK in shared chunks that every page reuses.
 * `npm run build` calls it; the e2e tests call buildHosting() before opening the pages.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { REPO_ROOT } from './emulators/stack.js';

export const HOSTING_SRC = join(REPO_ROOT, 'hosting', 'src');
export const HOSTING_ASSETS = join(REPO_ROOT, 'hosting', 'public', 'assets');

export async function buildHosting(options: { quiet?: boolean } = {}): Promise<Metafile> {
  const pagesDir = join(HOSTING_SRC, 'pages');
  const entryPoints = readdirSync(pagesDir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => join(pagesDir, f));
  rmSync(HOSTING_ASSETS, { recursive: true, force: true });
  const result = await build({
    entryPoints,
    outdir: HOSTING_ASSETS,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    minify: true,
    sourcemap: true,
    chunkNames: 'chunks/[name]-[hash]',
    metafile: true,
    logLevel: options.quiet ? 'error' : 'warning',
    legalComments: 'linked',
  });
  if (!options.quiet) {
    const outputs = Object.entries(result.metafile.outputs).filter(([f]) => f.endsWith('.js'));
    const total = outputs.reduce((sum, [, o]) => sum + o.bytes, 0);
    console.log(
      `Pages d’administration : ${entryPoints.length} pages, ${outputs.length} fichiers JS, ` +
        `${(total / 1024).toFixed(0)} Kio → hosting/public/assets/`,
    );
  }
  return result.metafile;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  buildHosting().catch((err: unknown) => {
    console.error('Échec de la construction des pages d’administration :', err);
    process.exit(1);
  });
}
