/**
 * `npm run build:deploy` (firebase.json predeploy): bundles functions/src into
 * functions/lib/index.js with the workspace packages (@wildlens/*) inlined, because Cloud
 * Build installs functions/package.json from the registry and cannot see the monorepo.
 * Every other import stays external and must be a dependency of functions/package.json:
 * the build fails otherwise, before a broken deploy.
 */
import { readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { REPO_ROOT } from './emulators/stack.js';

const functionsDir = join(REPO_ROOT, 'functions');
const declared = new Set(
  Object.keys(
    (
      JSON.parse(readFileSync(join(functionsDir, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
        optionalDependencies?: Record<string, string>;
      }
    ).dependencies ?? {},
  ),
);
const optional = new Set(
  Object.keys(
    (
      JSON.parse(readFileSync(join(functionsDir, 'package.json'), 'utf8')) as {
        optionalDependencies?: Record<string, string>;
      }
    ).optionalDependencies ?? {},
  ),
);

const packageName = (spec: string): string =>
  spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? spec);

const undeclared = new Set<string>();
const externalsExceptWorkspace: Plugin = {
  name: 'externals-except-workspace',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('@wildlens/')) return undefined; // bundle it
      const name = packageName(args.path.replace(/^node:/, ''));
      if (!builtinModules.includes(name) && !declared.has(name) && !optional.has(name)) {
        undeclared.add(name);
      }
      return { path: args.path, external: true };
    });
  },
};

rmSync(join(functionsDir, 'lib'), { recursive: true, force: true });
await build({
  entryPoints: [join(functionsDir, 'src/index.ts')],
  outfile: join(functionsDir, 'lib/index.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  plugins: [externalsExceptWorkspace],
  logLevel: 'warning',
});

if (undeclared.size) {
  console.error(
    `functions/package.json doit déclarer ces dépendances (importées par le code déployé) : ${[...undeclared].join(', ')}`,
  );
  process.exit(1);
}
console.log('functions/lib/index.js prêt pour le déploiement (paquets @wildlens/* intégrés).');
