import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FUNCTIONS_DIR,
  TFJS_NODE,
  buildDeploy,
  tensorflowDeclarationProblems,
} from './build-deploy.js';

describe('functions deploy bundle and native TensorFlow', () => {
  const pinned = {
    dependencies: { '@tensorflow/tfjs-core': '4.22.0', '@tensorflow/tfjs-backend-wasm': '4.22.0' },
    optionalDependencies: { [TFJS_NODE]: '4.22.0' },
  };

  it('requires tfjs-node as an exact optional dependency, with every tfjs package at its version', () => {
    expect(tensorflowDeclarationProblems(pinned)).toEqual([]);
    expect(
      tensorflowDeclarationProblems(
        JSON.parse(readFileSync(join(FUNCTIONS_DIR, 'package.json'), 'utf8')) as typeof pinned,
      ),
    ).toEqual([]);
    expect(tensorflowDeclarationProblems({ dependencies: pinned.dependencies })).toEqual([
      `${TFJS_NODE} manque dans optionalDependencies : la production tournerait en wasm`,
    ]);
    expect(
      tensorflowDeclarationProblems({
        dependencies: { ...pinned.dependencies, [TFJS_NODE]: '4.22.0' },
        optionalDependencies: pinned.optionalDependencies,
      }),
    ).toEqual([`${TFJS_NODE} doit être une optionalDependency (son installation peut échouer)`]);
    expect(
      tensorflowDeclarationProblems({
        ...pinned,
        dependencies: { ...pinned.dependencies, '@tensorflow/tfjs-core': '^4.22.0' },
      }),
    ).toEqual([
      `@tensorflow/tfjs-core@^4.22.0 doit être épinglé à 4.22.0, la version de ${TFJS_NODE}`,
    ]);
  });

  // Under functions/ so that the bundle resolves packages as functions/lib/index.js does.
  const outDir = join(FUNCTIONS_DIR, '.cache', `build-deploy-test-${process.pid}`);
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  const installed = (() => {
    try {
      createRequire(join(FUNCTIONS_DIR, 'index.js')).resolve(TFJS_NODE);
      return true;
    } catch {
      return false;
    }
  })();

  it('bundles with tfjs-node external; the bundled backend picks tensorflow when it loads, else wasm', async () => {
    const { problems, backends } = await buildDeploy(join(outDir, 'index.js'));
    expect(problems).toEqual([]);
    expect(backends.map((b) => [b.case, b.result.name])).toEqual([
      [`avec ${TFJS_NODE}`, 'tensorflow'],
      [`${TFJS_NODE} installé sans libtensorflow`, 'wasm'],
      // Offline (CI) tfjs-node's install fails and npm leaves it out; where it installed, it runs.
      installed ? [`${TFJS_NODE} installé ici`, 'tensorflow'] : [`sans ${TFJS_NODE}`, 'wasm'],
    ]);
    expect(readFileSync(join(outDir, 'index.js'), 'utf8')).toContain(`"${TFJS_NODE}"`);
    expect(existsSync(join(outDir, '.backend-probe'))).toBe(false);
  });
});
