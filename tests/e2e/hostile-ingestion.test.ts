/**
 * The hostile corpus through the real ingestion trigger: every file gets its intended answer,
 * nothing crashes, and no orphan is left (incoming/ emptied, exactly one training object per
 * accepted photo, exactly one kept copy per rejected file).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { adminBucket, adminDb, closeAdmin, eventually } from './support.js';
import { uploadIdFor } from '../../functions/src/handlers/ingestion.js';
import { HANG_BOUND_MS } from '../hang-bound.js';

afterAll(closeAdmin);

const dir = new URL('../fixtures/hostile/', import.meta.url);
const { cases } = JSON.parse(readFileSync(new URL('manifest.json', dir), 'utf8')) as {
  cases: { file: string; expected: string }[];
};

describe('hostile corpus through the ingestion trigger', () => {
  it(
    'answers every file as intended and leaves no orphan',
    { timeout: HANG_BOUND_MS },
    async () => {
      const batch = `hostile-${Date.now()}`;
      const seen = new Set<string>();
      const plan = cases.map((c) => {
        const data = readFileSync(new URL(c.file, dir));
        const hash = createHash('sha256').update(data).digest('hex');
        const objectName = `incoming/castor/${batch}/${c.file}`;
        let expected = c.expected === 'accepted' ? 'accepted' : 'rejected';
        if (expected === 'accepted') {
          expected = seen.has(hash) ? 'duplicate' : 'accepted';
          seen.add(hash);
        }
        return { ...c, data, hash, objectName, expectedStatus: expected };
      });

      // Sequential uploads: duplicates must arrive after their original to be called duplicates.
      for (const p of plan) {
        await adminBucket().file(p.objectName).save(p.data, { resumable: false });
        await eventually(
          async () => {
            const s = await adminDb()
              .doc(`uploads/${uploadIdFor(p.objectName)}`)
              .get();
            return s.exists ? true : undefined;
          },
          { what: p.file },
        );
      }

      for (const p of plan) {
        const record = (
          await adminDb()
            .doc(`uploads/${uploadIdFor(p.objectName)}`)
            .get()
        ).data();
        expect({ file: p.file, status: record?.status }).toEqual({
          file: p.file,
          status: p.expectedStatus,
        });
        if (p.expectedStatus === 'rejected') {
          expect({ file: p.file, code: record?.reasonCode }).toEqual({
            file: p.file,
            code: p.expected,
          });
          expect(String(record?.reason)).not.toBe('');
        }
      }

      await eventually(
        async () => {
          const [left] = await adminBucket().getFiles({ prefix: `incoming/castor/${batch}/` });
          return left.length === 0 ? true : undefined;
        },
        { what: 'incoming/ emptied' },
      );
      const accepted = [...seen];
      for (const hash of accepted) {
        const [exists] = await adminBucket().file(`training/castor/${hash}.jpg`).exists();
        expect(exists).toBe(true);
        expect((await adminDb().doc(`trainingImages/${hash}`).get()).get('speciesId')).toBe(
          'castor',
        );
      }
      const rejected = plan.filter((p) => p.expectedStatus === 'rejected');
      for (const p of rejected) {
        const [files] = await adminBucket().getFiles({
          prefix: `rejected/${uploadIdFor(p.objectName)}/`,
        });
        expect(files).toHaveLength(1);
      }
      console.log(
        `Corpus hostile : ${plan.length} fichiers, ${accepted.length} acceptés, ` +
          `${plan.length - accepted.length - rejected.length} doublons, ${rejected.length} refusés.`,
      );
    },
  );
});
