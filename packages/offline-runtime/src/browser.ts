/**
 * Browser glue of the offline runtime: a tfjs backend (webgl on a real GPU, else wasm) and the
 * photo decoder (createImageBitmap with the EXIF orientation applied, pixels read back from a
 * canvas). Kept out of the core entry so React Native can bring its own.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgl';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { jpegOrientation, sniffFormat } from './image-header.js';
import type { DecodedPhoto } from './pipeline.js';

export interface BrowserBackend {
  name: 'webgl' | 'wasm';
  /** The GPU renderer (webgl), or whether wasm has SIMD and how many threads. */
  detail: string;
}

/** Software WebGL (SwiftShader, llvmpipe) is slower than wasm SIMD on the same CPU. */
function softwareRenderer(): string | null {
  try {
    const gl =
      new OffscreenCanvas(1, 1).getContext('webgl2') ??
      new OffscreenCanvas(1, 1).getContext('webgl');
    if (!gl) return 'none';
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(
      info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER),
    );
    return /swiftshader|llvmpipe|software/i.test(renderer) ? renderer : null;
  } catch {
    return 'none';
  }
}

/**
 * Selects the backend once: webgl when a hardware GPU is there, else wasm (its .wasm files are
 * fetched from `wasmPaths`, a URL prefix ending with '/').
 */
export async function initBrowserBackend(options: {
  wasmPaths: string;
  prefer?: 'webgl' | 'wasm';
}): Promise<BrowserBackend> {
  const prefer = options.prefer ?? (softwareRenderer() ? 'wasm' : 'webgl');
  if (prefer === 'webgl') {
    try {
      if (await tf.setBackend('webgl')) {
        await tf.ready();
        const gl = (tf.backend() as unknown as { gpgpu?: { gl?: WebGLRenderingContext } }).gpgpu
          ?.gl;
        return { name: 'webgl', detail: String(gl?.getParameter(gl.RENDERER) ?? 'webgl') };
      }
    } catch {
      // fall through to wasm
    }
  }
  setWasmPaths(options.wasmPaths);
  if (!(await tf.setBackend('wasm'))) throw new Error('no tfjs backend could start (webgl, wasm)');
  await tf.ready();
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  return { name: 'wasm', detail: `${simd ? 'SIMD' : 'no SIMD'}, ${getThreadsCount()} thread(s)` };
}

/**
 * Decodes a photo (JPEG, PNG, WebP) the way the runtime's pipeline expects it: upright (EXIF
 * orientation applied by the browser, and recorded so the pipeline can resize in stored order
 * as the server does), RGBA pixels read back unpremultiplied, sRGB.
 */
export async function decodePhoto(blob: Blob): Promise<DecodedPhoto> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const format = sniffFormat(bytes);
  const orientation = format === 'jpeg' ? jpegOrientation(bytes) : 1;
  const bitmap = await createImageBitmap(blob, {
    imageOrientation: 'from-image',
    premultiplyAlpha: 'none',
    colorSpaceConversion: 'default',
  });
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d', { willReadFrequently: true });
    if (!context) throw new Error('2D canvas unavailable');
    context.drawImage(bitmap, 0, 0);
    const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
    return {
      data,
      width: bitmap.width,
      height: bitmap.height,
      channels: 4,
      format,
      orientation,
      oriented: true,
    };
  } finally {
    bitmap.close();
  }
}
