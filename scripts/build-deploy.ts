/**
 * `npm run build:deploy` (firebase.json predeploy): bundles functions/src into
 * functions/lib/index.js with the workspace packages (@wildlens/*) inlined, because Cloud
 * Build installs functions/package.json from the registry and cannot see the monorepo.
 * Every other import stays external and must be a dependency of functions/package.json:
 * the build fails otherwise, before a broken deploy.
 *
 * Native TensorFlow: `@tensorflow/tfjs-node` is an optional dependency of the functions (Cloud
 * Build has a network and installs it; an install that fails leaves it out). The build checks
 * that the bundle leaves it external, that the tfjs packages are pinned to its version (one
 * tfjs-core for all), and runs the bundled backend selection in both cases: with tfjs-node
 * present it must pick `tensorflow`, with it absent or broken it must fall back to `wasm`.
 *
 * `--out FILE` writes the bundle elsewhere (tests); the default is functions/lib/index.js.
 */
import { spawnSync } from 'node:child_process';
import { createRequire, builtinModules } from 'node:module';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { REPO_ROOT } from './emulators/stack.js';

export const FUNCTIONS_DIR = join(REPO_ROOT, 'functions');
export const TFJS_NODE = '@tensorflow/tfjs-node';

interface FunctionsPackage {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

const packageName = (spec: string): string =>
  spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? spec);

/**
 * tfjs-node must be optional (its install downloads libtensorflow and may fail), and every
 * @tensorflow/* dependency pinned to its exact version: tfjs-node pins its own tfjs-core, and
 * a second copy would register the `tensorflow` backend where the functions do not look.
 */
export function tensorflowDeclarationProblems(pkg: FunctionsPackage): string[] {
  const problems: string[] = [];
  const nodeVersion = pkg.optionalDependencies?.[TFJS_NODE];
  if (pkg.dependencies?.[TFJS_NODE])
    problems.push(`${TFJS_NODE} doit être une optionalDependency (son installation peut échouer)`);
  if (!nodeVersion) {
    problems.push(
      `${TFJS_NODE} manque dans optionalDependencies : la production tournerait en wasm`,
    );
    return problems;
  }
  if (!/^\d+\.\d+\.\d+$/.test(nodeVersion))
    problems.push(`${TFJS_NODE} doit être épinglé à une version exacte (« ${nodeVersion} »)`);
  for (const [name, version] of Object.entries(pkg.dependencies ?? {}))
    if (name.startsWith('@tensorflow/') && version !== nodeVersion)
      problems.push(
        `${name}@${version} doit être épinglé à ${nodeVersion}, la version de ${TFJS_NODE}`,
      );
  return problems;
}

/** The bundle options of the deployed code: @wildlens/* inlined, everything else external. */
function bundleOptions(pkg: FunctionsPackage, undeclared: Set<string>): BuildOptions {
  const declared = new Set([
    ...Object.keys(pkg.dependencies ?? {}),
    ...Object.keys(pkg.optionalDependencies ?? {}),
  ]);
  const externalsExceptWorkspace: Plugin = {
    name: 'externals-except-workspace',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith('@wildlens/')) return undefined; // bundle it
        const name = packageName(args.path.replace(/^node:/, ''));
        if (!builtinModules.includes(name) && !declared.has(name)) undeclared.add(name);
        return { path: args.path, external: true };
      });
    },
  };
  return {
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    plugins: [externalsExceptWorkspace],
    logLevel: 'warning',
    metafile: true,
  };
}

/** What the bundled initBackend() chose, run in a child process next to a stand-in tfjs-node. */
interface ProbeResult {
  name: string;
  simd: boolean;
  computed: number[];
}

const PROBE_SOURCE = `
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@wildlens/model';
const info = await initBackend();
const computed = Array.from(tf.tidy(() => tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])).dataSync()));
console.log(JSON.stringify({ name: info.name, simd: info.simd, computed }));
`;

/** Stand-ins for tfjs-node, placed in a node_modules next to the probe (they shadow any real one). */
const STAND_INS = {
  // Registers a backend named `tensorflow` (the CPU kernels under that name) on the tfjs-core
  // it resolves: the bundle sees it only if both resolve the same tfjs-core.
  present: `const tf = require('@tensorflow/tfjs-core');
const { MathBackendCPU } = require('@tensorflow/tfjs-backend-cpu');
tf.registerBackend('tensorflow', () => new MathBackendCPU(), 3);
for (const kernel of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...kernel, backendName: 'tensorflow' });
`,
  // What an install without libtensorflow looks like at runtime: the native binding is missing.
  broken: `throw new Error("Cannot find module 'lib/napi-v8/tfjs_binding.node' (stand-in: libtensorflow was not installed)");
`,
} as const;

function runProbe(probeDir: string, probeFile: string, standIn: keyof typeof STAND_INS | null) {
  const standInDir = join(probeDir, 'node_modules', ...TFJS_NODE.split('/'));
  rmSync(join(probeDir, 'node_modules'), { recursive: true, force: true });
  if (standIn) {
    mkdirSync(standInDir, { recursive: true });
    writeFileSync(
      join(standInDir, 'package.json'),
      JSON.stringify({ name: TFJS_NODE, version: '0.0.0-stand-in', main: 'index.js' }),
    );
    writeFileSync(join(standInDir, 'index.js'), STAND_INS[standIn]);
  }
  const env = { ...process.env };
  delete env.WILDLENS_DISABLE_TFJS_NODE;
  const res = spawnSync(process.execPath, [probeFile], { cwd: probeDir, env, encoding: 'utf8' });
  const last = res.stdout.trim().split('\n').at(-1) ?? '';
  if (res.status !== 0 || !last.startsWith('{'))
    throw new Error(
      `la sonde du backend (${standIn ?? 'sans remplaçant'}) a échoué : ${res.stderr || res.stdout}`,
    );
  return JSON.parse(last) as ProbeResult;
}

/** True when a real tfjs-node can be resolved from the bundle's directory. */
function realTfjsNodeResolvable(fromDir: string): boolean {
  try {
    createRequire(join(fromDir, 'index.js')).resolve(TFJS_NODE);
    return true;
  } catch {
    return false;
  }
}

export async function buildDeploy(outfile = join(FUNCTIONS_DIR, 'lib', 'index.js')): Promise<{
  problems: string[];
  backends: { case: string; result: ProbeResult }[];
}> {
  const pkg = JSON.parse(
    readFileSync(join(FUNCTIONS_DIR, 'package.json'), 'utf8'),
  ) as FunctionsPackage;
  const problems = tensorflowDeclarationProblems(pkg);
  const undeclared = new Set<string>();
  const options = bundleOptions(pkg, undeclared);
  const bundleFile = resolve(outfile);
  const outDir = dirname(bundleFile);
  rmSync(outDir, { recursive: true, force: true });
  const result = await build({
    ...options,
    entryPoints: [join(FUNCTIONS_DIR, 'src/index.ts')],
    outfile: bundleFile,
    sourcemap: true,
  });
  if (undeclared.size)
    problems.push(
      `functions/package.json doit déclarer ces dépendances (importées par le code déployé) : ${[...undeclared].join(', ')}`,
    );
  const inlined = Object.keys(result.metafile?.inputs ?? {}).filter((p) =>
    p.includes('node_modules/'),
  );
  if (inlined.length)
    problems.push(
      `le bundle intègre des paquets npm au lieu de les laisser externes : ${inlined.join(', ')}`,
    );
  if (!readFileSync(bundleFile, 'utf8').includes(`"${TFJS_NODE}"`))
    problems.push(
      `le bundle n'importe plus ${TFJS_NODE} à l'exécution : la production tournerait en wasm`,
    );
  if (problems.length) return { problems, backends: [] };

  // The probe is bundled like the deployed code and sits next to it, so it resolves packages
  // from the same node_modules; it is removed afterwards (never deployed).
  const probeDir = join(outDir, '.backend-probe');
  const probeFile = join(probeDir, 'probe.mjs');
  const backends: { case: string; result: ProbeResult }[] = [];
  try {
    await build({
      ...bundleOptions(pkg, undeclared),
      stdin: { contents: PROBE_SOURCE, resolveDir: join(FUNCTIONS_DIR, 'src'), loader: 'ts' },
      outfile: probeFile,
    });
    const check = (label: string, r: ProbeResult, name: string) => {
      backends.push({ case: label, result: r });
      if (r.name !== name || r.computed.join() !== '4,6')
        problems.push(
          `${label} : backend ${r.name} (calcul ${r.computed.join()}) au lieu de ${name}`,
        );
    };
    check(`avec ${TFJS_NODE}`, runProbe(probeDir, probeFile, 'present'), 'tensorflow');
    check(
      `${TFJS_NODE} installé sans libtensorflow`,
      runProbe(probeDir, probeFile, 'broken'),
      'wasm',
    );
    if (!realTfjsNodeResolvable(outDir))
      check(`sans ${TFJS_NODE}`, runProbe(probeDir, probeFile, null), 'wasm');
    else
      backends.push({
        case: `${TFJS_NODE} installé ici`,
        result: runProbe(probeDir, probeFile, null),
      });
  } finally {
    rmSync(probeDir, { recursive: true, force: true });
  }
  return { problems, backends };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const { problems, backends } = await buildDeploy(values.out);
  for (const b of backends)
    console.log(
      `backend du bundle, ${b.case} : ${b.result.name}${b.result.name === 'wasm' && b.result.simd ? ' (SIMD)' : ''}`,
    );
  if (problems.length) {
    for (const p of problems) console.error(`✖ ${p}`);
    process.exit(1);
  }
  console.log(
    `${relative(REPO_ROOT, values.out ?? join(FUNCTIONS_DIR, 'lib', 'index.js'))} prêt pour le déploiement (paquets @wildlens/* intégrés).`,
  );
}
