/**
 * The runtime must load in a browser bundle (the try page, built with esbuild like hosting/)
 * and in React Native: nothing from Node, sharp or the training side may creep in.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

describe('the runtime as a browser bundle', () => {
  it('builds for the browser without Node built-ins, sharp, tfjs-layers or the npm backbones', async () => {
    const entry = (name: string) => fileURLToPath(new URL(name, import.meta.url));
    const result = await build({
      entryPoints: [entry('./index.ts'), entry('./browser.ts')],
      bundle: true,
      write: false,
      outdir: 'out',
      platform: 'browser',
      format: 'esm',
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((i) => i.includes('packages/model/dist/bilinear.js'))).toBe(true);
    const forbidden = inputs.filter(
      (i) =>
        /^node:|node_modules\/(sharp|@img|nsfwjs|ml-matrix|@tensorflow\/tfjs-layers|@tensorflow\/tfjs-node)\//.test(
          i,
        ) ||
        /packages\/model\/dist\/(image-pipeline|backbones|features|training|model-format|backend)\.js/.test(
          i,
        ),
    );
    expect(forbidden).toEqual([]);
  });
});
