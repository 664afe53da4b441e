import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

export interface BackendInfo {
  name: 'tensorflow' | 'wasm' | 'cpu';
  simd: boolean;
  threads: number;
}

let backendInfo: BackendInfo | null = null;
let initPromise: Promise<BackendInfo> | null = null;

/** The native binding downloads libtensorflow at install time, so it is optional: probe it. */
async function tryTensorflowNode(): Promise<boolean> {
  if (process.env.WILDLENS_DISABLE_TFJS_NODE === '1') return false;
  const moduleName = '@tensorflow/tfjs-node';
  try {
    await import(moduleName);
    return await tf.setBackend('tensorflow');
  } catch {
    return false;
  }
}

async function tryWasm(): Promise<BackendInfo | null> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    // Emscripten reads the .wasm files with fs in Node: point it at the package's own dist dir.
    const distDir = path.dirname(
      require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'),
    );
    wasm.setWasmPaths(distDir + path.sep);
    if (!(await tf.setBackend('wasm'))) return null;
    await tf.ready();
    const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
    // tfjs-backend-wasm disables pthreads under Node (tfjs issue #3830): report what it really uses.
    const threads = wasm.getThreadsCount();
    return { name: 'wasm', simd, threads };
  } catch (error) {
    if (process.env.WILDLENS_DEBUG) console.error('wasm backend failed', error);
    return null;
  }
}

async function selectBackend(): Promise<BackendInfo> {
  if (await tryTensorflowNode()) {
    await tf.ready();
    return { name: 'tensorflow', simd: true, threads: 0 };
  }
  const wasmInfo = await tryWasm();
  if (wasmInfo) return wasmInfo;
  if (process.env.WILDLENS_ALLOW_CPU_BACKEND === '1') {
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    await tf.ready();
    return { name: 'cpu', simd: false, threads: 1 };
  }
  throw new Error(
    'Wildlens: neither @tensorflow/tfjs-node nor @tensorflow/tfjs-backend-wasm could be initialised; ' +
      'the pure-JS cpu backend is ~20x slower and is refused (set WILDLENS_ALLOW_CPU_BACKEND=1 to accept it).',
  );
}

/** Selects the fastest available tfjs backend once; later calls return the same info. */
export function initBackend(): Promise<BackendInfo> {
  initPromise ??= selectBackend().then(
    (info) => {
      backendInfo = info;
      return info;
    },
    (error: unknown) => {
      initPromise = null;
      throw error;
    },
  );
  return initPromise;
}

export function getBackendInfo(): BackendInfo | null {
  return backendInfo;
}
