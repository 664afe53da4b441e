/**
 * Builds the admin pages into hosting/public/:
 * - each page's HTML from one layout (head, site header, <main>) and its content in
 *   hosting/src/pages/<name>.html, whose first line is `<!-- title: … -->`;
 * - its script hosting/src/pages/<name>.ts, bundled with esbuild into hosting/public/assets/: the
 *   Firebase JS SDK and Chart.js are bundled (no CDN: the site must work offline against the
 *   emulators). ESM code splitting puts the SDK in shared chunks that every page reuses;
 * - App Check's reCAPTCHA provider and site key from WILDLENS_APP_CHECK_* (see
 *   hosting/src/app-check.ts), so deployed pages work where App Check is enforced.
 * `npm run build` (hence `npm start`) and the hosting predeploy call it; the e2e tests call
 * buildHosting() before opening the pages.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { REPO_ROOT } from './emulators/stack.js';
import { appCheckBuildConfig } from '../hosting/src/app-check.js';

export const HOSTING_SRC = join(REPO_ROOT, 'hosting', 'src');
export const HOSTING_PUBLIC = join(REPO_ROOT, 'hosting', 'public');
export const HOSTING_ASSETS = join(HOSTING_PUBLIC, 'assets');

const TITLE_LINE = /^<!-- title: (.+?) -->\n/;

/** The full HTML of page `name` from its content file (see the header comment). */
export function renderPage(name: string, source: string): string {
  const match = TITLE_LINE.exec(source);
  if (!match)
    throw new Error(`hosting/src/pages/${name}.html: first line must be <!-- title: … -->`);
  const content = source
    .slice(match[0].length)
    .replace(/\s+$/, '')
    .split('\n')
    .map((line) => (line ? `      ${line}` : line))
    .join('\n');
  return `<!doctype html>
<html lang="fr">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${match[1]}</title>
    <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
    <link rel="stylesheet" href="/styles.css" />
    <script type="module" src="/assets/${name}.js"></script>
  </head>
  <body>
    <header id="site-header" class="site-header"></header>
    <main id="main" tabindex="-1">
${content}
    </main>
  </body>
</html>
`;
}

/**
 * tfjs's wasm binaries, fetched by the try page's offline mode (setWasmPaths): served from the
 * site itself, so identifying offline needs no CDN.
 */
function copyWasmBinaries(): void {
  const require = createRequire(join(REPO_ROOT, 'package.json'));
  const dist = dirname(
    require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'),
  );
  const target = join(HOSTING_ASSETS, 'tfjs-wasm');
  mkdirSync(target, { recursive: true });
  for (const file of readdirSync(dist).filter((f) => f.endsWith('.wasm')))
    copyFileSync(join(dist, file), join(target, file));
}

function writePages(pagesDir: string, names: string[]): void {
  for (const name of names) {
    const source = readFileSync(join(pagesDir, `${name}.html`), 'utf8');
    writeFileSync(join(HOSTING_PUBLIC, `${name}.html`), renderPage(name, source));
  }
}

export async function buildHosting(options: { quiet?: boolean } = {}): Promise<Metafile> {
  const pagesDir = join(HOSTING_SRC, 'pages');
  const names = readdirSync(pagesDir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => f.slice(0, -'.ts'.length));
  writePages(pagesDir, names);
  const entryPoints = names.map((name) => join(pagesDir, `${name}.ts`));
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
    // App Check's provider and site key (hosting/src/app-check.ts), from this build's environment.
    define: { __WILDLENS_APP_CHECK__: JSON.stringify(appCheckBuildConfig(process.env)) },
  });
  copyWasmBinaries();
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
