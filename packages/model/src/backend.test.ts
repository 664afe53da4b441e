import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { getBackendInfo, initBackend, switchBackend } from './backend.js';
import { loadBackbone, resolveBackboneId } from './backbones.js';
import { readDataset } from './dataset.js';
import { DEFAULT_FEATURE_RECIPE, PhotoFeaturizer, fitFeaturizer, recipeFor } from './features.js';
import { FIELD_FOOTPRINTS_DIR, hasShared } from './test-helpers.js';
import { NEEDS } from '../../../tests/requirements.js';

/**
 * Whether the native binding loads on this machine, found out by loading it (as production does),
 * not assumed: it installs only where its libtensorflow download succeeds (any machine with
 * internet, Cloud Build, the trainer image), never offline (this dev machine, CI).
 */
async function nativeBindingLoads(): Promise<boolean> {
  if (process.env.WILDLENS_DISABLE_TFJS_NODE === '1') return false;
  const moduleName = '@tensorflow/tfjs-node';
  try {
    await import(moduleName);
    return true;
  } catch {
    return false;
  }
}

const native = await nativeBindingLoads();

describe('backend selection', () => {
  it(`uses the best backend this machine can have (${native ? 'tensorflow: tfjs-node loads here' : 'wasm: tfjs-node does not load here'}), never the pure-JS cpu backend`, async () => {
    const info = await initBackend();
    expect(info.name).toBe(native ? 'tensorflow' : 'wasm');
    expect(tf.getBackend()).toBe(info.name);
    if (info.name === 'wasm') {
      expect(info.threads).toBeGreaterThanOrEqual(1);
      expect(typeof info.simd).toBe('boolean');
    }
  });

  it('is idempotent', async () => {
    const [a, b] = await Promise.all([initBackend(), initBackend()]);
    expect(a).toBe(b);
    expect(getBackendInfo()).toBe(a);
  });
});

/**
 * Runs on every machine where tfjs-node installs (any machine with internet): production runs
 * native TensorFlow while development and CI run wasm, so a model trained on one is served on
 * the other. Same weights, same bases, same photo: the features must agree to float rounding.
 */
describe.skipIf(!native || !hasShared)(
  'native TensorFlow and wasm give the same features',
  { tags: [...NEEDS.tfjsNode.tags, ...NEEDS.shared.tags] },
  () => {
    it('on a real field photo, through the default recipe', async () => {
      await initBackend();
      const dataset = await readDataset(FIELD_FOOTPRINTS_DIR);
      const images = dataset.images.slice(0, 5);
      const photo = await images[4]!.read();
      const { id } = await resolveBackboneId('auto');

      const fitting = await loadBackbone(id);
      const recipe = recipeFor(fitting, DEFAULT_FEATURE_RECIPE);
      const { bases } = await fitFeaturizer(images.slice(0, 4), fitting, recipe);
      fitting.dispose();

      const featuresOn = async (backend: 'tensorflow' | 'wasm') => {
        await switchBackend(backend);
        // Loaded afresh on each backend: its weights then live there, as in production.
        const backbone = await loadBackbone(id);
        const featurizer = new PhotoFeaturizer(backbone, recipe, bases);
        try {
          return await featurizer.features(await featurizer.decode(photo));
        } finally {
          featurizer.dispose();
          backbone.dispose();
        }
      };
      const onNative = await featuresOn('tensorflow');
      const onWasm = await featuresOn('wasm');
      expect(onNative.length).toBe(onWasm.length);
      let maxDifference = 0;
      for (let i = 0; i < onNative.length; i++)
        maxDifference = Math.max(maxDifference, Math.abs(onNative[i]! - onWasm[i]!));
      // Measured on this recipe (entries up to 0.23): two kernel implementations (tfjs cpu vs
      // wasm XNNPACK) differ by 7e-6, float rounding; adding 1 to a seventh of the photo's byte
      // values, an invisible change, moves entries by 1e-2. 1e-3 tells one from the other.
      expect(maxDifference).toBeLessThan(1e-3);
    });
  },
);
