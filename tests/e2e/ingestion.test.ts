import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import {
  adminBucket,
  adminDb,
  closeAdmin,
  eventually,
  expectAcceptedTrainingImage,
  ingestionRecord,
} from './support.js';
import { uploadIdFor } from '../../functions/src/handlers/ingestion.js';

afterAll(closeAdmin);

async function photo(seed: number): Promise<Buffer> {
  // A small noisy picture: unique bytes per seed, a valid JPEG.
  const raw = Buffer.alloc(160 * 120 * 3);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < raw.length; i++) {
    // xorshift32: cheap deterministic noise, different for every seed
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    raw[i] = x & 0xff;
  }
  return sharp(raw, { raw: { width: 160, height: 120, channels: 3 } })
    .jpeg()
    .toBuffer();
}

async function uploadAndWait(objectName: string, data: Buffer) {
  await adminBucket().file(objectName).save(data, { resumable: false });
  return ingestionRecord(objectName);
}

describe('Storage upload fires the ingestion trigger in the Functions emulator', () => {
  it('turns an upload under incoming/ into a training image and removes the upload', async () => {
    const data = await photo(Date.now() % 1_000_000_007);
    const hash = createHash('sha256').update(data).digest('hex');
    const name = `incoming/renard/lot-e2e/${hash.slice(0, 8)}.jpg`;
    const record = await uploadAndWait(name, data);
    const { image, stored } = await expectAcceptedTrainingImage(record, hash, 'renard');
    expect(image.get('batchId')).toBe('lot-e2e');
    // The recorded hash is the stored JPEG's: the trainer relies on it to skip downloads.
    expect(image.get('storedSha256')).toBe(createHash('sha256').update(stored).digest('hex'));
    const meta = await sharp(stored).metadata();
    expect(meta.format).toBe('jpeg');
    expect(meta.exif).toBeUndefined();
    await eventually(
      async () => ((await adminBucket().file(name).exists())[0] ? undefined : true),
      {
        what: 'incoming object deletion',
      },
    );
  });

  it("records the photo's domain and source group from the upload metadata", async () => {
    const upload = async (seed: number, metadata: Record<string, string>) => {
      const data = await photo((Date.now() % 1_000_000_007) + seed);
      const hash = createHash('sha256').update(data).digest('hex');
      const name = `incoming/lapin/lot-domaine/${hash.slice(0, 8)}.jpg`;
      await adminBucket().file(name).save(data, { resumable: false, metadata: { metadata } });
      const record = await ingestionRecord(name);
      return (await expectAcceptedTrainingImage(record, hash, 'lapin')).image;
    };
    const field = await upload(31, { domain: 'field', sourceGroup: 'photo-42' });
    expect(field.get('domain')).toBe('field');
    expect(field.get('group')).toBe('photo-42');
    // No domain, or one that is not a slug: recorded as unspecified, never as given.
    expect((await upload(32, {})).get('domain')).toBe('unspecified');
    expect((await upload(33, { domain: '../../Terrain' })).get('domain')).toBe('unspecified');
  });

  it('flags the same photo uploaded again, even under another label', async () => {
    const data = await photo((Date.now() % 1_000_000_007) + 17);
    const hash = createHash('sha256').update(data).digest('hex');
    await uploadAndWait(`incoming/loup/lot-a/a.jpg`, data);
    const again = await uploadAndWait(`incoming/loup/lot-b/a-copie.jpg`, data);
    expect(again.status).toBe('duplicate');
    const conflict = await uploadAndWait(`incoming/coyote/lot-c/a.jpg`, data);
    expect(conflict.status).toBe('conflict');
    const image = await adminDb().doc(`trainingImages/${hash}`).get();
    expect(image.get('speciesId')).toBe('loup');
    expect(image.get('conflictingLabels')).toEqual(['coyote']);
    const [coyoteCopy] = await adminBucket().file(`training/coyote/${hash}.jpg`).exists();
    expect(coyoteCopy).toBe(false);
  });

  it('rejects a corrupt file and an unknown species with a French reason', async () => {
    const text = await uploadAndWait(
      `incoming/lynx/lot-r/pas-une-image.jpg`,
      Buffer.from('ceci est un fichier texte'),
    );
    expect(text).toMatchObject({ status: 'rejected', reasonCode: 'unsupported_format' });
    expect(String(text.reason)).toMatch(/Format non pris en charge/);
    const [kept] = await adminBucket()
      .file(text.rejectedPath as string)
      .exists();
    expect(kept).toBe(true);

    const unknown = await uploadAndWait(`incoming/dragon/lot-r/x.jpg`, await photo(7));
    expect(unknown).toMatchObject({ status: 'rejected', reasonCode: 'unknown_species' });
  });

  it('ignores objects outside incoming/ (its own outputs included)', async () => {
    await adminBucket()
      .file('training/renard/manual.jpg')
      .save(await photo(3), { resumable: false });
    // A barrier, not a sleep: an upload under incoming/ after it, whose record means the trigger
    // has run past the earlier event (returning at once for it) whatever the machine's speed.
    const marker = await uploadAndWait('incoming/renard/lot-o/apres.jpg', await photo(4));
    expect(marker.status).toBe('accepted');
    const s = await adminDb()
      .doc(`uploads/${uploadIdFor('training/renard/manual.jpg')}`)
      .get();
    expect(s.exists).toBe(false);
  });
});
