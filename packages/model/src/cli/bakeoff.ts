import os from 'node:os';
import path from 'node:path';
import { loadBackbone } from '../backbones.js';
import { DEFAULT_HEAD_OPTIONS, type HeadTrainingOptions } from '../classifier.js';
import { fitTemperature } from '../calibration.js';
import { readDataset } from '../dataset.js';
import { augmentVariantNames, ttaVariantNames } from '../embedding.js';
import { FileEmbeddingCache } from '../embedding-cache.js';
import type { TtaMode } from '../image-pipeline.js';
import { crossValidateEmbeddings, embedImages, reportOf, type EmbeddedImage } from '../training.js';
import { parseCli, requireString } from './args.js';

const USAGE = `Usage: node dist/cli/bakeoff.js --dataset DIR --backbones ID,ID,... --recipes JSON [--augment N] [--folds 5]
  Development tool: embeds each single backbone once (cached), composes ensembles ("a+b") from the
  cached parts, and runs grouped K-fold CV for every recipe. One JSON line per recipe on stdout.
  A recipe: {"backbone":"a+b","train":["center","flip","aug0"],"tta":"flip","l2":0.001,"epochs":150}`;

const flags = parseCli(USAGE, {
  dataset: { type: 'string' },
  backbones: { type: 'string' },
  recipes: { type: 'string' },
  augment: { type: 'string' },
  folds: { type: 'string' },
  cache: { type: 'string' },
});
const dataset = await readDataset(path.resolve(requireString(flags, 'dataset', USAGE)));
const augment = Number(flags.augment ?? 4);
const folds = Number(flags.folds ?? 5);
const cache = new FileEmbeddingCache(
  typeof flags.cache === 'string'
    ? flags.cache
    : path.join(os.homedir(), '.cache', 'wildlens', 'embeddings'),
);
const variants = [...ttaVariantNames('multi'), ...augmentVariantNames(augment)];
const perBackbone = new Map<string, EmbeddedImage[]>();
for (const id of requireString(flags, 'backbones', USAGE).split(',')) {
  const t = performance.now();
  const backbone = await loadBackbone(id);
  perBackbone.set(id, await embedImages(dataset.images, backbone, variants, { cache }));
  backbone.dispose();
  console.error(`${id}: embeddings ready in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}

function compose(ids: string[]): EmbeddedImage[] {
  const parts = ids.map((id) => {
    const p = perBackbone.get(id);
    if (!p) throw new Error(`backbone ${id} not embedded (add it to --backbones)`);
    return p;
  });
  if (parts.length === 1) return parts[0] as EmbeddedImage[];
  return (parts[0] as EmbeddedImage[]).map((image, i) => {
    const views = new Map<string, Float32Array>();
    for (const v of variants) {
      const pieces = parts.map((p) => (p[i] as EmbeddedImage).views.get(v) as Float32Array);
      const joined = new Float32Array(pieces.reduce((a, x) => a + x.length, 0));
      let offset = 0;
      for (const piece of pieces) {
        joined.set(piece, offset);
        offset += piece.length;
      }
      views.set(v, joined);
    }
    return { ...image, views };
  });
}

interface Recipe {
  backbone: string;
  train: string[];
  tta: TtaMode;
  l2?: number;
  epochs?: number;
  lr?: number;
  balance?: boolean;
  name?: string;
}
const recipes = JSON.parse(requireString(flags, 'recipes', USAGE)) as Recipe[];
for (const recipe of recipes) {
  const t = performance.now();
  const embedded = compose(recipe.backbone.split('+'));
  const head: Partial<HeadTrainingOptions> = {
    ...DEFAULT_HEAD_OPTIONS,
    ...(recipe.l2 !== undefined ? { l2: recipe.l2 } : {}),
    ...(recipe.epochs !== undefined ? { epochs: recipe.epochs } : {}),
    ...(recipe.lr !== undefined ? { learningRate: recipe.lr } : {}),
    ...(recipe.balance !== undefined ? { balanceClasses: recipe.balance } : {}),
  };
  const cv = crossValidateEmbeddings(
    embedded,
    dataset.labels,
    { trainVariants: recipe.train, tta: recipe.tta, head },
    folds,
    1,
  );
  const temperature = fitTemperature(cv.logits, cv.truth);
  const r = reportOf(cv, temperature);
  console.log(
    JSON.stringify({
      ...recipe,
      top1: +r.top1.toFixed(4),
      top3: +r.top3.toFixed(4),
      macroF1: +r.macroF1.toFixed(4),
      ece: +r.ece.toFixed(4),
      T: +temperature.toFixed(3),
      seconds: +((performance.now() - t) / 1000).toFixed(1),
    }),
  );
}
