/**
 * `npm run fixtures:hostile`: (re)generates tests/fixtures/hostile/, a corpus of hostile or
 * broken files with the outcome each must get from the identification API and the ingestion
 * trigger. Everything is made here from scratch (sharp, byte patching), nothing downloaded.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp, { type CreateRaw, type Sharp } from 'sharp';
import { REPO_ROOT } from './emulators/stack.js';

export interface HostileCase {
  file: string;
  description: string;
  /** 'accepted', or the rejection code the validators must give. */
  expected:
    | 'accepted'
    | 'empty'
    | 'unsupported_format'
    | 'corrupt'
    | 'too_small'
    | 'too_many_pixels'
    | 'too_large'
    | 'suspicious_content';
}

const OUT = join(REPO_ROOT, 'tests/fixtures/hostile');
/** Three 120×90 frames stacked vertically; sharp reads pageHeight for multi-page output. */
const ANIMATION_RAW = { width: 120, height: 270, channels: 3, pageHeight: 90 } as CreateRaw;

/** Deterministic "photo": smooth gradient + structured noise, so JPEGs are realistic. */
async function photo(width: number, height: number, seed = 1): Promise<Sharp> {
  const raw = Buffer.alloc(width * height * 3);
  let x = seed >>> 0 || 1;
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < width; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const n = (x >>> 0) & 0x1f;
      const o = (y * width + i) * 3;
      raw[o] = (90 + (i * 60) / width + n) & 0xff;
      raw[o + 1] = (70 + (y * 50) / height + n) & 0xff;
      raw[o + 2] = (50 + n) & 0xff;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } });
}

function patchJpegDimensions(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i < out.length - 9; i++) {
    // SOF0/SOF2 marker: FF C0 / FF C2, then length(2) precision(1) height(2) width(2)
    if (out[i] === 0xff && (out[i + 1] === 0xc0 || out[i + 1] === 0xc2)) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
  }
  throw new Error('no SOF marker');
}

function patchPngDimensions(png: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(png);
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  return out; // CRC left stale on purpose: decoders must not trust it either way
}

export async function buildHostileCorpus(): Promise<{ case: HostileCase; data: Buffer }[]> {
  const jpeg = await (await photo(320, 240)).jpeg({ quality: 85 }).toBuffer();
  const png = await (await photo(320, 240, 2)).png().toBuffer();
  const webp = await (await photo(320, 240, 3)).webp().toBuffer();
  const items: { case: HostileCase; data: Buffer }[] = [];
  const add = (
    file: string,
    expected: HostileCase['expected'],
    description: string,
    data: Buffer,
  ) => items.push({ case: { file, expected, description }, data });

  add('valid.jpg', 'accepted', 'JPEG ordinaire (témoin)', jpeg);
  add('valid.png', 'accepted', 'PNG ordinaire (témoin)', png);
  add('valid.webp', 'accepted', 'WebP ordinaire (témoin)', webp);
  add(
    'truncated.jpg',
    'corrupt',
    'JPEG tronqué à 40 %',
    jpeg.subarray(0, Math.floor(jpeg.length * 0.4)),
  );
  add(
    'truncated.png',
    'corrupt',
    'PNG tronqué à 40 %',
    png.subarray(0, Math.floor(png.length * 0.4)),
  );
  add(
    'truncated.webp',
    'corrupt',
    'WebP tronqué à 40 %',
    webp.subarray(0, Math.floor(webp.length * 0.4)),
  );
  add('header-only.jpg', 'corrupt', 'JPEG réduit à ses 200 premiers octets', jpeg.subarray(0, 200));
  const corruptPng = Buffer.from(png);
  corruptPng.fill(0xff, 60, Math.min(corruptPng.length - 20, 400));
  add('corrupt-idat.png', 'corrupt', 'PNG aux données compressées écrasées', corruptPng);
  add('empty.jpg', 'empty', 'Fichier vide', Buffer.alloc(0));
  add(
    '1x1.jpg',
    'too_small',
    'JPEG 1×1',
    await sharp({ create: { width: 1, height: 1, channels: 3, background: '#777' } })
      .jpeg()
      .toBuffer(),
  );
  add(
    '1x1.png',
    'too_small',
    'PNG 1×1',
    await sharp({ create: { width: 1, height: 1, channels: 4, background: '#7777' } })
      .png()
      .toBuffer(),
  );
  add(
    '63x300.jpg',
    'too_small',
    'Côté de 63 px (limite 64)',
    await (await photo(63, 300)).jpeg().toBuffer(),
  );
  add(
    'declared-30000x30000.jpg',
    'too_many_pixels',
    'En-tête JPEG annonçant 30000×30000',
    patchJpegDimensions(jpeg, 30000, 30000),
  );
  add(
    'declared-30000x30000.png',
    'too_many_pixels',
    'En-tête PNG annonçant 30000×30000',
    patchPngDimensions(png, 30000, 30000),
  );
  add(
    'pixel-bomb-10000x10000.png',
    'too_many_pixels',
    'Vraie image de 100 mégapixels très compressée (bombe)',
    await sharp({ create: { width: 10000, height: 10000, channels: 3, background: '#000' } })
      .greyscale()
      .png({ compressionLevel: 9 })
      .toBuffer(),
  );
  add('jpeg-named.png', 'accepted', 'JPEG portant une extension .png', jpeg);
  add('png-named.jpg', 'accepted', 'PNG portant une extension .jpg', png);
  add(
    'text-named.jpg',
    'unsupported_format',
    'Texte renommé en .jpg',
    Buffer.from('Ceci est un fichier texte, pas une photo.\n'),
  );
  add(
    'script.svg',
    'unsupported_format',
    'SVG avec script',
    Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(document.cookie)</script><rect width="100" height="100"/></svg>',
    ),
  );
  add(
    'svg-named.jpg',
    'unsupported_format',
    'SVG renommé en .jpg',
    Buffer.from(
      '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="500" height="500"><script>alert(1)</script></svg>',
    ),
  );
  add(
    'page.html',
    'unsupported_format',
    'Page HTML',
    Buffer.from('<!DOCTYPE html><html><body><script>alert(1)</script></body></html>'),
  );
  add(
    'archive.zip',
    'unsupported_format',
    'Archive ZIP',
    Buffer.from('504b0304140000000000000000000000000000000000000000000000000000', 'hex'),
  );
  add(
    'photo.heic',
    'unsupported_format',
    'En-tête HEIC (ftyp heic)',
    Buffer.concat([
      Buffer.from('00000018667479706865696300000000686569636d696631', 'hex'),
      Buffer.alloc(64),
    ]),
  );
  add('still.gif', 'unsupported_format', 'GIF fixe', await (await photo(120, 90)).gif().toBuffer());
  const frames = await Promise.all(
    [1, 2, 3].map(async (s) => (await photo(120, 90, s)).raw().toBuffer()),
  );
  add(
    'animated.gif',
    'unsupported_format',
    'GIF animé (3 images)',
    await sharp(Buffer.concat(frames), {
      raw: ANIMATION_RAW,
    })
      .gif({ loop: 0 })
      .toBuffer(),
  );
  add(
    'animated.webp',
    'unsupported_format',
    'WebP animé (3 images)',
    await sharp(Buffer.concat(frames), {
      raw: ANIMATION_RAW,
    })
      .webp({ loop: 0 })
      .toBuffer(),
  );
  add('image.tiff', 'unsupported_format', 'TIFF', await (await photo(120, 90)).tiff().toBuffer());
  add(
    'polyglot-jpeg-html.jpg',
    'suspicious_content',
    'JPEG suivi d’une page HTML avec script (polyglotte)',
    Buffer.concat([jpeg, Buffer.from('<html><script>alert(1)</script></html>')]),
  );
  add(
    'cmyk.jpg',
    'accepted',
    'JPEG CMJN',
    await (await photo(320, 240, 4)).toColourspace('cmyk').jpeg().toBuffer(),
  );
  add(
    '16bit.png',
    'accepted',
    'PNG 16 bits par canal',
    await (await photo(320, 240, 5)).toColourspace('rgb16').png().toBuffer(),
  );
  add(
    'grayscale.jpg',
    'accepted',
    'JPEG en niveaux de gris',
    await (await photo(320, 240, 6)).grayscale().jpeg().toBuffer(),
  );
  add(
    'alpha.png',
    'accepted',
    'PNG avec transparence',
    await (await photo(320, 240, 7)).ensureAlpha(0.5).png().toBuffer(),
  );
  add(
    'huge-exif.jpg',
    'accepted',
    'JPEG avec ~60 Ko de métadonnées EXIF',
    await (
      await photo(320, 240, 8)
    )
      .jpeg()
      .withExif({ IFD0: { ImageDescription: 'x'.repeat(60_000), Copyright: 'Wildlens tests' } })
      .toBuffer(),
  );
  for (let orientation = 1; orientation <= 8; orientation++) {
    add(
      `exif-orientation-${orientation}.jpg`,
      'accepted',
      `JPEG 320×200 avec orientation EXIF ${orientation}`,
      await (
        await photo(320, 200, 10 + orientation)
      )
        .jpeg()
        .withMetadata({ orientation })
        .toBuffer(),
    );
  }
  return items;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const items = await buildHostileCorpus();
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  for (const item of items) writeFileSync(join(OUT, item.case.file), item.data);
  writeFileSync(
    join(OUT, 'manifest.json'),
    `${JSON.stringify({ generator: 'scripts/generate-hostile-corpus.ts', cases: items.map((i) => i.case) }, null, 2)}\n`,
  );
  console.log(`${items.length} fichiers écrits dans ${OUT}`);
}
