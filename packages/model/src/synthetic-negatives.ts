import sharp from 'sharp';
import { createRandom } from './random.js';

/**
 * Images that are certainly not footprints, rendered locally (no third-party data): plain colours,
 * gradients, noise, stripes, text, geometric shapes. Used to set and measure the not_a_footprint threshold.
 */
export async function generateSyntheticNegatives(
  count: number,
  seed = 7,
): Promise<{ kind: string; image: Buffer }[]> {
  const random = createRandom(seed);
  const kinds = ['plain', 'gradient', 'noise', 'stripes', 'text', 'shapes'] as const;
  const out: { kind: string; image: Buffer }[] = [];
  const colour = () =>
    `rgb(${Math.floor(random() * 256)},${Math.floor(random() * 256)},${Math.floor(random() * 256)})`;
  for (let i = 0; i < count; i++) {
    const kind = kinds[i % kinds.length] as (typeof kinds)[number];
    const width = 256 + Math.floor(random() * 256);
    const height = 256 + Math.floor(random() * 256);
    let image: Buffer;
    if (kind === 'plain') {
      image = await sharp({ create: { width, height, channels: 3, background: colour() } })
        .jpeg()
        .toBuffer();
    } else if (kind === 'noise') {
      image = await sharp({
        create: {
          width,
          height,
          channels: 3,
          background: colour(),
          noise: { type: 'gaussian', mean: 128, sigma: 10 + random() * 80 },
        },
      })
        .jpeg()
        .toBuffer();
    } else {
      const svg = svgOf(kind, width, height, random, colour);
      image = await sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).jpeg().toBuffer();
    }
    out.push({ kind, image });
  }
  return out;
}

function svgOf(
  kind: 'gradient' | 'stripes' | 'text' | 'shapes',
  w: number,
  h: number,
  random: () => number,
  colour: () => string,
): string {
  const open = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">`;
  if (kind === 'gradient') {
    return `${open}<defs><linearGradient id="g" x1="0" y1="0" x2="${random().toFixed(2)}" y2="1"><stop offset="0" stop-color="${colour()}"/><stop offset="1" stop-color="${colour()}"/></linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/></svg>`;
  }
  if (kind === 'stripes') {
    const step = 8 + Math.floor(random() * 40);
    let rects = '';
    for (let x = 0; x < w; x += step * 2)
      rects += `<rect x="${x}" y="0" width="${step}" height="${h}" fill="${colour()}"/>`;
    return `${open}<rect width="100%" height="100%" fill="${colour()}"/><g transform="rotate(${Math.floor(random() * 180)} ${w / 2} ${h / 2})">${rects}</g></svg>`;
  }
  if (kind === 'text') {
    const words = [
      'Bonjour',
      'Wildlens',
      'Lorem ipsum',
      '12345',
      'Facture',
      'Menu du jour',
      'Hello world',
    ];
    let lines = '';
    for (let y = 40; y < h; y += 36) {
      lines += `<text x="10" y="${y}" font-family="sans-serif" font-size="${20 + Math.floor(random() * 16)}" fill="${colour()}">${words[Math.floor(random() * words.length)]}</text>`;
    }
    return `${open}<rect width="100%" height="100%" fill="${colour()}"/>${lines}</svg>`;
  }
  let shapes = '';
  for (let s = 0; s < 3 + Math.floor(random() * 8); s++) {
    const x = random() * w;
    const y = random() * h;
    const r = 10 + random() * 80;
    shapes +=
      random() < 0.5
        ? `<circle cx="${x.toFixed(0)}" cy="${y.toFixed(0)}" r="${r.toFixed(0)}" fill="${colour()}"/>`
        : `<rect x="${x.toFixed(0)}" y="${y.toFixed(0)}" width="${(r * 1.5).toFixed(0)}" height="${r.toFixed(0)}" fill="${colour()}" transform="rotate(${Math.floor(random() * 90)} ${x.toFixed(0)} ${y.toFixed(0)})"/>`;
  }
  return `${open}<rect width="100%" height="100%" fill="${colour()}"/>${shapes}</svg>`;
}
