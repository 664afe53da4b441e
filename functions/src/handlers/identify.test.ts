import { HttpsError } from 'firebase-functions/https';
import { describe, expect, it } from 'vitest';
import { downloadUrl, parseIdentifyRequest, storageApiOrigin } from './identify.js';

const now = new Date('2026-05-01T12:00:00Z');
const MB = 1024 * 1024;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpsError) return err.code;
    throw err;
  }
  return undefined;
}

describe('parseIdentifyRequest', () => {
  const photo = Buffer.from('fake-jpeg-bytes').toString('base64');

  it('accepts base64 (also as a data: URL) with optional location and date', () => {
    const parsed = parseIdentifyRequest(
      { photo, location: { lat: 45.5, lng: 6.1, accuracyM: 12 }, takenAt: '2026-04-30T08:00:00Z' },
      now,
      10 * MB,
    );
    expect(parsed.photo.toString()).toBe('fake-jpeg-bytes');
    expect(parsed.location).toEqual({ lat: 45.5, lng: 6.1, accuracyM: 12 });
    expect(parsed.takenAt?.toISOString()).toBe('2026-04-30T08:00:00.000Z');
    const dataUrl = parseIdentifyRequest({ photo: `data:image/jpeg;base64,${photo}` }, now, MB);
    expect(dataUrl.photo.toString()).toBe('fake-jpeg-bytes');
    expect(dataUrl.location).toBeNull();
    expect(dataUrl.takenAt).toBeNull();
    expect(parseIdentifyRequest({ photo, location: null, takenAt: null }, now, MB).location).toBe(
      null,
    );
  });

  it('rejects missing, empty, mistyped and oversized payloads with invalid-argument', () => {
    for (const data of [
      null,
      'texte',
      [],
      {},
      { photo: '' },
      { photo: 42 },
      { photo: ['a'] },
      { photo: 'pas du base64 !' },
      { image: photo },
      { photo, extra: 1 },
      { photo, location: 'Paris' },
      { photo, location: { lat: '45', lng: 6 } },
      { photo, location: { lat: 91, lng: 6 } },
      { photo, location: { lat: 45, lng: -181 } },
      { photo, location: { lat: 45, lng: 6, accuracyM: -1 } },
      { photo, location: { lat: 45, lng: 6, altitude: 3 } },
      { photo, takenAt: 1714557600000 },
      { photo, takenAt: 'hier' },
      { photo, takenAt: '2026-05-03T12:00:00Z' },
    ]) {
      expect(
        codeOf(() => parseIdentifyRequest(data, now, 10 * MB)),
        JSON.stringify(data),
      ).toBe('invalid-argument');
    }
  });

  it('refuses a payload over the byte limit before decoding it, with reason too_large', () => {
    const big = 'A'.repeat(Math.ceil((2 * MB * 4) / 3) + 8);
    let error: HttpsError | undefined;
    try {
      parseIdentifyRequest({ photo: big }, now, MB);
    } catch (e) {
      error = e as HttpsError;
    }
    expect(error?.code).toBe('invalid-argument');
    expect(error?.details).toEqual({ reason: 'too_large' });
    expect(error?.message).toContain('1 Mo');
    for (const missing of [{}, { photo: null }, { photo: '' }]) {
      expect(() => parseIdentifyRequest(missing, now, MB)).toThrow(
        expect.objectContaining({ details: { reason: 'empty' } }),
      );
    }
  });
});

describe('downloadUrl', () => {
  it('builds token URLs for production and for the Storage emulator', () => {
    expect(
      downloadUrl('b.appspot.com', 'users/u/observations/o/photo.jpg', 'tok', storageApiOrigin({})),
    ).toBe(
      'https://firebasestorage.googleapis.com/v0/b/b.appspot.com/o/users%2Fu%2Fobservations%2Fo%2Fphoto.jpg?alt=media&token=tok',
    );
    expect(storageApiOrigin({ FIREBASE_STORAGE_EMULATOR_HOST: '127.0.0.1:9199' })).toBe(
      'http://127.0.0.1:9199',
    );
  });
});
