import sharp from 'sharp';
import { createRandom } from './random.js';

/** Kinds of generated non-track images, cycled in this order. */
export const SYNTHETIC_NEGATIVE_KINDS = [
  'plain',
  'gradient',
  'noise',
  'stripes',
  'text',
  'shapes',
  'sky',
  'ground',
  'scale-card',
  'hand',
] as const;

/**
 * Images that are certainly not footprints, rendered locally (no third-party data): plain colours,
 * gradients, noise, stripes, text, geometric shapes, and what a hiker may photograph by mistake:
 * sky (gradient and clouds), bare ground (mud, sand or snow texture without any print), a scale
 * card or ruler alone, a hand. Used to measure the not_a_footprint gate.
 */
export async function generateSyntheticNegatives(
  count: number,
  seed = 7,
): Promise<{ kind: string; image: Buffer }[]> {
  const random = createRandom(seed);
  const kinds = SYNTHETIC_NEGATIVE_KINDS;
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
      colour(); // drawn as before, so the other pictures stay the same
      const sigma = 10 + random() * 80;
      // libvips' own noise is not seeded: each run would make new pictures (and cache them).
      image = await gaussianNoise(width, height, sigma, createRandom(seed * 1000 + i));
    } else if (kind === 'ground') {
      image = await groundTexture(width, height, random);
    } else {
      const svg = svgOf(kind, width, height, random, colour);
      image = await sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).jpeg().toBuffer();
    }
    out.push({ kind, image });
  }
  return out;
}

/** Earth tones of mud, sand, snow and gravel. */
const GROUND_TONES: [number, number, number][] = [
  [112, 86, 62],
  [150, 124, 92],
  [196, 178, 140],
  [225, 228, 232],
  [92, 92, 88],
];

/** Bare ground: three octaves of smooth value noise on an earth tone, plus grain. */
async function groundTexture(width: number, height: number, random: () => number) {
  const [r, g, b] = GROUND_TONES[Math.floor(random() * GROUND_TONES.length)] as [
    number,
    number,
    number,
  ];
  const octaves = [8, 32, 128].map((cell) => {
    const gw = Math.ceil(width / cell) + 2;
    const gh = Math.ceil(height / cell) + 2;
    return { cell, grid: Float32Array.from({ length: gw * gh }, () => random() * 2 - 1), gw };
  });
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      let v = 0;
      for (const [o, { cell, grid, gw }] of octaves.entries()) {
        const fx = x / cell;
        const fy = y / cell;
        const x0 = Math.floor(fx);
        const y0 = Math.floor(fy);
        const tx = fx - x0;
        const ty = fy - y0;
        const at = (i: number, j: number) => grid[j * gw + i] as number;
        const top = at(x0, y0) * (1 - tx) + at(x0 + 1, y0) * tx;
        const bottom = at(x0, y0 + 1) * (1 - tx) + at(x0 + 1, y0 + 1) * tx;
        v += (top * (1 - ty) + bottom * ty) * [10, 18, 26][o]!;
      }
      v += (random() * 2 - 1) * 12;
      const i = (y * width + x) * 3;
      data[i] = Math.max(0, Math.min(255, r + v));
      data[i + 1] = Math.max(0, Math.min(255, g + v));
      data[i + 2] = Math.max(0, Math.min(255, b + v));
    }
  return sharp(data, { raw: { width, height, channels: 3 } })
    .jpeg()
    .toBuffer();
}

function svgOf(
  kind: 'gradient' | 'stripes' | 'text' | 'shapes' | 'sky' | 'scale-card' | 'hand',
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
  if (kind === 'sky') {
    let clouds = '';
    for (let c = 0; c < Math.floor(random() * 6); c++)
      clouds += `<ellipse cx="${(random() * w).toFixed(0)}" cy="${(random() * h * 0.7).toFixed(0)}" rx="${(40 + random() * 120).toFixed(0)}" ry="${(15 + random() * 40).toFixed(0)}" fill="white" opacity="${(0.5 + random() * 0.5).toFixed(2)}"/>`;
    return `${open}<defs><linearGradient id="s" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="rgb(${40 + Math.floor(random() * 40)},${90 + Math.floor(random() * 60)},${190 + Math.floor(random() * 60)})"/><stop offset="1" stop-color="rgb(${190 + Math.floor(random() * 50)},${215 + Math.floor(random() * 35)},250)"/></linearGradient><filter id="b"><feGaussianBlur stdDeviation="12"/></filter></defs><rect width="100%" height="100%" fill="url(#s)"/><g filter="url(#b)">${clouds}</g></svg>`;
  }
  if (kind === 'scale-card') {
    // A ruler or a scale card (white, yellow or grey), alone on plain ground.
    const [r, g, b] = GROUND_TONES[Math.floor(random() * GROUND_TONES.length)] as [
      number,
      number,
      number,
    ];
    const card = ['#f4f4f0', '#f2d43a', '#c8c8c8', '#ffffff'][Math.floor(random() * 4)];
    const cw = w * (0.5 + random() * 0.4);
    const ch = h * (0.12 + random() * 0.25);
    let ticks = '';
    for (let t = 0; t * 10 < cw - 20; t++)
      ticks += `<line x1="${10 + t * 10}" y1="0" x2="${10 + t * 10}" y2="${t % 10 === 0 ? ch * 0.5 : t % 5 === 0 ? ch * 0.35 : ch * 0.2}" stroke="black" stroke-width="1.5"/>${t % 10 === 0 ? `<text x="${12 + t * 10}" y="${ch * 0.75}" font-family="sans-serif" font-size="${Math.max(10, ch * 0.22).toFixed(0)}">${t / 10}</text>` : ''}`;
    return `${open}<rect width="100%" height="100%" fill="rgb(${r},${g},${b})"/><g transform="translate(${((w - cw) / 2).toFixed(0)} ${((h - ch) / 2).toFixed(0)}) rotate(${Math.floor(random() * 40 - 20)} ${(cw / 2).toFixed(0)} ${(ch / 2).toFixed(0)})"><rect width="${cw.toFixed(0)}" height="${ch.toFixed(0)}" fill="${card}" stroke="#333"/>${ticks}</g></svg>`;
  }
  if (kind === 'hand') {
    // A hand seen from above on the ground: palm, four fingers and a thumb in a skin tone.
    const [r, g, b] = GROUND_TONES[Math.floor(random() * GROUND_TONES.length)] as [
      number,
      number,
      number,
    ];
    const skin = ['#f1c7a5', '#e0ac84', '#c68642', '#8d5524', '#ffdbac'][Math.floor(random() * 5)];
    const s = Math.min(w, h) / 400;
    const fingers = [-45, -15, 15, 45]
      .map(
        (dx, i) =>
          `<rect x="${dx - 13}" y="${-150 + Math.abs(i - 1.5) * 14}" width="26" height="${110 - Math.abs(i - 1.5) * 12}" rx="13" fill="${skin}"/>`,
      )
      .join('');
    return `${open}<rect width="100%" height="100%" fill="rgb(${r},${g},${b})"/><g transform="translate(${(w / 2).toFixed(0)} ${(h * 0.6).toFixed(0)}) scale(${s.toFixed(2)}) rotate(${Math.floor(random() * 360)})"><ellipse cx="0" cy="0" rx="72" ry="85" fill="${skin}"/>${fingers}<rect x="55" y="-30" width="26" height="90" rx="13" fill="${skin}" transform="rotate(-40 68 15)"/></g></svg>`;
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

/** Grey-level Gaussian noise around 128 (per channel), from a seeded generator. */
async function gaussianNoise(
  width: number,
  height: number,
  sigma: number,
  random: () => number,
): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) {
    const u = Math.max(random(), 1e-12);
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    pixels[i] = Math.max(0, Math.min(255, Math.round(128 + sigma * z)));
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg()
    .toBuffer();
}
