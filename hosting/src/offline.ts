/**
 * The try page's « Hors ligne » switch (issue 22): downloads the active model's offline bundle
 * once (`getOfflineBundle`), keeps it in Cache Storage, and identifies in the page with
 * @wildlens/offline-runtime. Once the bundle is loaded no request leaves the page: the photo
 * never reaches the server. The bundle is downloaded again only when the active model's
 * version changed; with no network, the cached bundle is used as is.
 *
 * Self-contained: try.ts asks `mode.active` and calls `mode.identify(file)`.
 */
import { signInAnonymously } from 'firebase/auth';
import { frenchError } from './errors.js';
import { call, firebase } from './firebase.js';
import type { SpeciesSheet } from './species.js';
import { formatBytes, h, say } from './ui.js';

type Runtime = typeof import('./offline-runtime.js');
type OfflineModel = Awaited<ReturnType<Runtime['loadOfflineBundle']>>;
type BundleManifest = OfflineModel['manifest'];

interface BundleResponse {
  version: string;
  totalSize: number;
  manifest: BundleManifest;
  files: { path: string; sha256: string; size: number; url: string }[];
}

/** What the try page shows, shaped like identifyFootprint's answer. */
export interface OfflineResult {
  verdict: 'identified' | 'uncertain' | 'not_a_footprint';
  top: { speciesId: string; probability: number }[];
  species: SpeciesSheet | null;
  hint: null;
  model: { version: string };
  timingsMs: { preprocess: number; inference: number };
}

export interface OfflineMode {
  /** The switch is on and the bundle is loaded. */
  readonly active: boolean;
  identify(file: File): Promise<OfflineResult>;
}

const CACHE_NAME = 'wildlens-offline-bundle';
/** Cache Storage keys are URLs of this origin; nothing is ever fetched from them. */
const CURRENT_KEY = '/offline-bundle/current.json';
const drawingPath = (speciesId: string): string => `/species/${speciesId}.svg`;
const fileKey = (version: string, path: string): string =>
  `/offline-bundle/${encodeURIComponent(version)}/${path}`;
/** Where build-hosting.ts copies tfjs's wasm binaries. */
const WASM_PATHS = '/assets/tfjs-wasm/';

async function cachedManifest(cache: Cache): Promise<BundleManifest | null> {
  const response = await cache.match(CURRENT_KEY);
  return response ? ((await response.json()) as BundleManifest) : null;
}

async function cachedBytes(cache: Cache, version: string, path: string): Promise<Uint8Array> {
  const response = await cache.match(fileKey(version, path));
  if (!response) throw new Error(`${path} absent du cache`);
  return new Uint8Array(await response.arrayBuffer());
}

/** Deletes every cached bundle file but those of `keep`. */
async function dropOtherVersions(cache: Cache, keep: string | null): Promise<void> {
  const prefix = keep === null ? null : new URL(fileKey(keep, ''), location.origin).href;
  for (const request of await cache.keys())
    if (request.url.includes('/offline-bundle/') && !request.url.endsWith(CURRENT_KEY))
      if (prefix === null || !request.url.startsWith(prefix)) await cache.delete(request);
}

function frenchOfflineError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const file = (err as { file?: unknown } | null)?.file;
  switch (code) {
    case 'digest-mismatch':
    case 'size-mismatch':
      return `le paquet hors ligne est altéré (fichier ${String(file)}) : il a été écarté, réactivez le mode hors ligne avec une connexion pour le télécharger à nouveau.`;
    case 'missing-file':
      return `le paquet hors ligne est incomplet (${String(file)} manque) : réactivez le mode hors ligne avec une connexion.`;
    case 'unsupported-format':
      return 'ce paquet hors ligne est d’un format que cette page ne sait pas lire : rechargez la page.';
    case 'invalid-manifest':
      return 'le paquet hors ligne est invalide : réactivez le mode hors ligne avec une connexion.';
    case 'too-elongated':
      return 'photo trop allongée (plus de 10 fois plus longue que large).';
    case 'too-large':
      return 'photo trop grande (plus de 40 mégapixels).';
    case 'empty':
      return 'photo vide.';
    default:
      return frenchError(err);
  }
}

export function setupOfflineMode(container: HTMLElement): OfflineMode {
  const toggle = h('input', { type: 'checkbox', id: 'offline-switch', role: 'switch' });
  const status = h('p', {
    id: 'offline-status',
    class: 'status',
    role: 'status',
    'aria-live': 'polite',
    hidden: true,
  });
  container.replaceChildren(
    h(
      'div',
      { class: 'field offline-field' },
      h('label', { for: 'offline-switch', class: 'switch' }, toggle, ' Hors ligne'),
      h(
        'p',
        { class: 'hint' },
        'Télécharge le modèle une fois, puis identifie sur cet appareil, même sans réseau : la photo n’est pas envoyée.',
      ),
    ),
    status,
  );
  let runtime: Runtime | null = null;
  let model: OfflineModel | null = null;
  let enabling: Promise<void> | null = null;
  /** Object URL of the track drawing shown last (revoked when the next one is shown). */
  let drawingUrl: string | null = null;

  const setState = (state: 'off' | 'loading' | 'ready' | 'error'): void => {
    container.dataset.state = state;
  };
  setState('off');

  async function loadRuntime(): Promise<Runtime> {
    // tfjs and the runtime only load when the switch is turned on (~1 MB of script).
    runtime ??= await import('./offline-runtime.js');
    return runtime;
  }

  async function fetchBundleInfo(): Promise<BundleResponse> {
    const fb = await firebase();
    if (!fb.auth.currentUser) await signInAnonymously(fb.auth);
    return call<Record<string, never>, BundleResponse>('getOfflineBundle', {}, 60_000);
  }

  /** Downloads the files of `bundle` missing from the cache, checking each digest. */
  async function download(cache: Cache, bundle: BundleResponse, rt: Runtime): Promise<void> {
    let done = 0;
    for (const file of bundle.files) {
      const key = fileKey(bundle.version, file.path);
      if (!(await cache.match(key))) {
        say(
          status,
          `Téléchargement du modèle hors ligne : ${formatBytes(done)} sur ${formatBytes(bundle.totalSize)}…`,
        );
        const response = await fetch(file.url);
        if (!response.ok)
          throw new Error(`téléchargement de ${file.path} impossible (HTTP ${response.status}).`);
        const bytes = new Uint8Array(await response.arrayBuffer());
        await rt.verifyBundleFile(file, bytes);
        await cache.put(key, new Response(bytes));
      }
      done += file.size;
    }
    await cache.put(CURRENT_KEY, new Response(JSON.stringify(bundle.manifest)));
    await dropOtherVersions(cache, bundle.version);
  }

  async function enable(): Promise<void> {
    setState('loading');
    say(status, 'Préparation du mode hors ligne…');
    const rt = await loadRuntime();
    const cache = await caches.open(CACHE_NAME);
    let manifest = await cachedManifest(cache);
    let remote: BundleResponse | null = null;
    try {
      remote = await fetchBundleInfo();
    } catch (err) {
      // No network (or no server): the bundle already here does the job.
      if (!manifest) throw err;
    }
    if (remote) {
      await download(cache, remote, rt);
      manifest = remote.manifest;
    }
    if (!manifest) throw new Error('aucun paquet hors ligne disponible.');
    if (model?.version !== manifest.version) {
      model?.dispose();
      model = null;
      const backend = await rt.initBrowserBackend({ wasmPaths: WASM_PATHS });
      const version = manifest.version;
      try {
        model = await rt.loadOfflineBundle(manifest, {
          readFile: (path) => cachedBytes(cache, version, path),
        });
      } catch (err) {
        // A bundle that fails its checks is never used again: the next activation downloads it anew.
        await cache.delete(CURRENT_KEY);
        await dropOtherVersions(cache, null);
        throw err;
      }
      container.dataset.backend = backend.name;
    }
    if (remote) {
      // The species' track drawings (site assets, not in the bundle) for the fact sheets.
      const loaded = model as OfflineModel;
      await Promise.allSettled(loaded.species.map((s) => cache.add(drawingPath(s.speciesId))));
    }
    container.dataset.version = manifest.version;
    setState('ready');
    say(
      status,
      `Mode hors ligne prêt : modèle ${manifest.version} (${formatBytes(manifest.totalSize)}), calcul sur cet appareil (${container.dataset.backend}).`,
      'success',
    );
  }

  toggle.addEventListener('change', () => {
    if (!toggle.checked) {
      setState('off');
      say(status, 'Mode hors ligne désactivé : les photos sont envoyées au service.');
      return;
    }
    enabling = enable().catch((err: unknown) => {
      console.error(err);
      toggle.checked = false;
      setState('error');
      say(status, `Mode hors ligne indisponible : ${frenchOfflineError(err)}`, 'error');
    });
  });

  /** The sheet with its track drawing read from the cache (the page may have no network). */
  async function withCachedDrawing(sheet: SpeciesSheet): Promise<SpeciesSheet> {
    const cache = await caches.open(CACHE_NAME);
    const drawing = await cache.match(drawingPath(sheet.speciesId));
    if (!drawing) return sheet;
    if (drawingUrl) URL.revokeObjectURL(drawingUrl);
    drawingUrl = URL.createObjectURL(await drawing.blob());
    return {
      ...sheet,
      exampleImage: { path: drawingUrl, alt: `Dessin de l’empreinte : ${sheet.nameFr}` },
    };
  }

  return {
    get active() {
      return toggle.checked && container.dataset.state === 'ready' && model !== null;
    },
    async identify(file: File): Promise<OfflineResult> {
      await enabling;
      if (!model || !runtime) throw new Error('le mode hors ligne n’est pas prêt.');
      try {
        const result = model.identify(
          await runtime.decodePhoto(file, { shortSide: model.workingShortSide }),
        );
        const first = result.top[0];
        const sheet =
          result.verdict !== 'not_a_footprint' && first
            ? (model.species.find((s) => s.speciesId === first.speciesId) as
                SpeciesSheet | undefined)
            : undefined;
        return {
          verdict: result.verdict,
          top: result.top,
          species: sheet ? await withCachedDrawing(sheet) : null,
          hint: null,
          model: { version: result.bundleVersion },
          timingsMs: result.timingsMs,
        };
      } catch (err) {
        throw new Error(frenchOfflineError(err));
      }
    },
  };
}
