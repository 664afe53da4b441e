import { describe, expect, it } from 'vitest';
import {
  downloadTokenOf,
  downloadUrl,
  objectDownloadTokens,
  withDownloadToken,
} from './download-url.js';

describe('download URLs', () => {
  const url = downloadUrl(
    'demo-wildlens.appspot.com',
    'users/u1/observations/o1/photo.jpg',
    'jeton-1',
    'http://127.0.0.1:9199',
  );

  it('reads the token a URL carries, and none from anything else', () => {
    expect(downloadTokenOf(url)).toBe('jeton-1');
    expect(downloadTokenOf(url.replace(/&token=.*$/, ''))).toBeNull();
    expect(downloadTokenOf('pas une URL')).toBeNull();
    expect(downloadTokenOf(undefined)).toBeNull();
  });

  it('changes only the token: origin, bucket and encoded path are kept', () => {
    const rotated = withDownloadToken(url, 'jeton-2');
    expect(rotated).toBe(url.replace('token=jeton-1', 'token=jeton-2'));
    expect(rotated).toContain('/o/users%2Fu1%2Fobservations%2Fo1%2Fphoto.jpg?');
  });

  it('lists the tokens an object honours (Firebase keeps them comma-separated)', () => {
    expect(objectDownloadTokens({ firebaseStorageDownloadTokens: 'a,b' })).toEqual(['a', 'b']);
    expect(objectDownloadTokens({ firebaseStorageDownloadTokens: '' })).toEqual([]);
    expect(objectDownloadTokens({ ownerUid: 'u1' })).toEqual([]);
    expect(objectDownloadTokens(undefined)).toEqual([]);
  });
});
