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

/**
 * The native binding downloads libtensorflow at install time, so it is optional: probe it.
 * WILDLENS_DISABLE_TFJS_NODE=1 leaves it out (e.g. to benchmark wasm where tfjs-node installed).
 */
async function tryTensorflowNode(): Promise<BackendInfo | null> {
  if (process.env.WILDLENS_DISABLE_TFJS_NODE === '1') return null;
  const moduleName = '@tensorflow/tfjs-node';
  try {
    await import(moduleName);
    if (!(await tf.setBackend('tensorflow'))) return null;
    await tf.ready();
    // libtensorflow runs its own thread pool (threads: 0 = its default, every core).
    return { name: 'tensorflow', simd: true, threads: 0 };
  } catch (error) {
    if (process.env.WILDLENS_DEBUG) console.error('tfjs-node failed', error);
    return null;
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
  const native = await tryTensorflowNode();
  if (native) return native;
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

/**
 * Moves this process to another backend (tests comparing native and wasm features on one
 * machine): later tensors and loaded backbones live there. Throws when it cannot be had here.
 */
export async function switchBackend(name: 'tensorflow' | 'wasm'): Promise<BackendInfo> {
  await initBackend();
  const info = name === 'tensorflow' ? await tryTensorflowNode() : await tryWasm();
  if (!info) throw new Error(`the ${name} backend cannot be initialised on this machine`);
  backendInfo = info;
  initPromise = Promise.resolve(info);
  return info;
}

/** One line for logs and benchmarks: which backend ran, and how. */
export function describeBackend(info: BackendInfo): string {
  if (info.name === 'tensorflow') return 'tensorflow (tfjs-node, native libtensorflow)';
  if (info.name === 'wasm')
    return `wasm (${info.simd ? 'SIMD' : 'no SIMD'}, ${info.threads} thread${info.threads === 1 ? '' : 's'})`;
  return 'cpu (pure JavaScript)';
}
