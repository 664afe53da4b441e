import { describe, expect, it } from 'vitest';
import { HttpsError } from 'firebase-functions/https';
import { createUploadUrls, fileProblems, uniqueSafeNames } from './uploads.js';
import { requireAdmin } from '../../common/admin-auth.js';
import type { Bucket } from '../../firebase.js';

describe('createUploadUrls helpers', () => {
  it('deduplicates equal names within a batch', () => {
    expect(uniqueSafeNames(['a.jpg', 'a.jpg', 'dir/a.jpg', 'b'])).toEqual([
      'a.jpg',
      'a-2.jpg',
      'a-3.jpg',
      'b',
    ]);
  });

  it('explains every refused file in French', () => {
    const problems = fileProblems(
      [
        { name: 'ok.jpg', size: 10, contentType: 'image/jpeg' },
        { name: 'doc.txt', size: 10, contentType: 'text/plain' },
        { name: 'gros.png', size: 30 * 1024 * 1024, contentType: 'image/png' },
      ],
      20 * 1024 * 1024,
    );
    expect(problems).toEqual([
      'doc.txt : type « text/plain » refusé (JPEG, PNG ou WebP).',
      'gros.png : dépasse 20 Mo.',
    ]);
  });

  it('mints one resumable session per file under incoming/{species}/{batch}/', async () => {
    const calls: { name: string; options: unknown }[] = [];
    const bucket = {
      file: (name: string) => ({
        createResumableUpload: async (options: unknown) => {
          calls.push({ name, options });
          return [`http://storage/upload?id=${encodeURIComponent(name)}`];
        },
      }),
    } as unknown as Bucket;
    const result = await createUploadUrls(
      'admin-uid',
      {
        speciesId: 'renard',
        files: [
          { name: 'p.jpg', size: 5, contentType: 'image/jpeg' },
          { name: 'p.jpg', size: 6, contentType: 'image/webp' },
        ],
      },
      { bucket, maxBytes: 100, newBatchId: () => 'lot-1', origin: 'http://127.0.0.1:5000' },
    );
    expect(result.batchId).toBe('lot-1');
    expect(result.uploads.map((u) => u.objectName)).toEqual([
      'incoming/renard/lot-1/p.jpg',
      'incoming/renard/lot-1/p-2.jpg',
    ]);
    expect(result.uploads[0]?.uploadId).toMatch(/^[0-9a-f]{32}$/);
    expect(calls[1]?.options).toEqual({
      metadata: {
        contentType: 'image/webp',
        metadata: { uploaderUid: 'admin-uid', batchId: 'lot-1', originalName: 'p.jpg' },
      },
      origin: 'http://127.0.0.1:5000',
    });
  });
});

describe('requireAdmin', () => {
  it('requires sign-in and the admin claim', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
        return 'ok';
      } catch (err) {
        return (err as HttpsError).code;
      }
    };
    expect(code(() => requireAdmin(undefined))).toBe('unauthenticated');
    expect(code(() => requireAdmin({ uid: 'u', token: {} }))).toBe('permission-denied');
    expect(code(() => requireAdmin({ uid: 'u', token: { admin: 'true' } }))).toBe(
      'permission-denied',
    );
    expect(requireAdmin({ uid: 'u', token: { admin: true } })).toBe('u');
  });
});
