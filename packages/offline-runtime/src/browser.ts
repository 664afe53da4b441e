/**
 * Browser glue of the offline runtime: a tfjs backend (webgl on a real GPU, else wasm) and the
 * photo decoder (createImageBitmap with the EXIF orientation applied, pixels read back from a
 * canvas). Kept out of the core entry so React Native can bring its own.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgl';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { jpegOrientation, jpegSize, sniffFormat } from './image-header.js';
import { jpegShrinkOnLoad, type DecodedPhoto } from './pipeline.js';

/** The part of WebCodecs' ImageDecoder used here (not in every browser, nor in TS's DOM lib). */
interface ScalingImageDecoder {
  decode(): Promise<{
    image: CanvasImageSource & { displayWidth: number; displayHeight: number; close(): void };
  }>;
  close(): void;
}
type ImageDecoderConstructor = new (init: {
  data: Uint8Array;
  type: string;
  desiredWidth?: number;
  desiredHeight?: number;
  colorSpaceConversion?: 'default' | 'none';
}) => ScalingImageDecoder;

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

function readPixels(source: CanvasImageSource, width: number, height: number): Uint8ClampedArray {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (!context) throw new Error('2D canvas unavailable');
  context.drawImage(source, 0, 0);
  return context.getImageData(0, 0, width, height).data;
}

/**
 * A large JPEG decoded directly at 1/factor by the decoder's DCT scaling (WebCodecs'
 * ImageDecoder with a desired size): what sharp's shrink-on-load does, and several times
 * faster than decoding every pixel. Undefined when the browser cannot (no ImageDecoder, or a
 * decoder that did not scale).
 */
async function decodeScaledJpeg(
  bytes: Uint8Array,
  orientation: number,
  shortSide: number,
): Promise<DecodedPhoto | undefined> {
  const Decoder = (globalThis as { ImageDecoder?: ImageDecoderConstructor }).ImageDecoder;
  const stored = jpegSize(bytes);
  if (!Decoder || !stored) return undefined;
  const factor = jpegShrinkOnLoad(Math.min(stored.width, stored.height) / shortSide);
  if (factor < 2) return undefined;
  // The decoder turns the photo upright: its desired size is the upright one.
  const swap = orientation >= 5 && orientation <= 8;
  const width = Math.ceil((swap ? stored.height : stored.width) / factor);
  const height = Math.ceil((swap ? stored.width : stored.height) / factor);
  const decoder = new Decoder({
    data: bytes,
    type: 'image/jpeg',
    desiredWidth: width,
    desiredHeight: height,
    colorSpaceConversion: 'default',
  });
  try {
    const { image } = await decoder.decode();
    try {
      if (image.displayWidth !== width || image.displayHeight !== height) return undefined;
      return {
        data: readPixels(image, width, height),
        width,
        height,
        channels: 4,
        format: 'jpeg',
        orientation,
        oriented: true,
        shrunkOnLoad: factor,
      };
    } finally {
      image.close();
    }
  } catch {
    return undefined;
  } finally {
    decoder.close();
  }
}

/**
 * Decodes a photo (JPEG, PNG, WebP) the way the runtime's pipeline expects it: upright (EXIF
 * orientation applied by the browser, and recorded so the pipeline can resize in stored order
 * as the server does), RGBA pixels read back unpremultiplied, sRGB. With `shortSide` (the
 * model's OfflineModel.workingShortSide), a JPEG that sharp would shrink on load is decoded at
 * that reduced size where the browser can.
 */
export async function decodePhoto(
  blob: Blob,
  options: { shortSide?: number } = {},
): Promise<DecodedPhoto> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const format = sniffFormat(bytes);
  const orientation = format === 'jpeg' ? jpegOrientation(bytes) : 1;
  if (format === 'jpeg' && options.shortSide) {
    const scaled = await decodeScaledJpeg(bytes, orientation, options.shortSide);
    if (scaled) return scaled;
  }
  const bitmap = await createImageBitmap(blob, {
    imageOrientation: 'from-image',
    premultiplyAlpha: 'none',
    colorSpaceConversion: 'default',
  });
  try {
    return {
      data: readPixels(bitmap, bitmap.width, bitmap.height),
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
