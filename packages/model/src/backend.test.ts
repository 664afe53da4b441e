import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { getBackendInfo, initBackend } from './backend.js';

describe('backend selection', () => {
  it('uses wasm here (tfjs-node is not installed) and never the pure-JS cpu backend', async () => {
    const info = await initBackend();
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(typeof info.simd).toBe('boolean');
  });

  it('is idempotent', async () => {
    const [a, b] = await Promise.all([initBackend(), initBackend()]);
    expect(a).toBe(b);
    expect(getBackendInfo()).toBe(a);
  });
});
