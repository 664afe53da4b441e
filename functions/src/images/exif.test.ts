import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { extractExifInfo, parseExifInfo } from './exif.js';

const base = () =>
  sharp({ create: { width: 120, height: 90, channels: 3, background: '#804020' } }).jpeg();

describe('extractExifInfo', () => {
  it('reads GPS position (with hemisphere signs), accuracy and capture time with its offset', async () => {
    const photo = await base()
      .withExif({
        IFD2: { DateTimeOriginal: '2025:09:14 08:30:00', OffsetTimeOriginal: '+02:00' },
        IFD3: {
          GPSLatitudeRef: 'N',
          GPSLatitude: '48/1 51/1 2964/100',
          GPSLongitudeRef: 'W',
          GPSLongitude: '2/1 21/1 792/100',
          GPSHPositioningError: '5/1',
        },
      })
      .toBuffer();
    const info = await extractExifInfo(photo);
    expect(info.location).toEqual({ lat: 48.858233, lng: -2.3522, accuracyM: 5 });
    expect(info.takenAt?.toISOString()).toBe('2025-09-14T06:30:00.000Z');
  });

  it('handles the southern hemisphere and local time without offset', async () => {
    const photo = await base()
      .withExif({
        IFD2: { DateTimeOriginal: '2024:01:02 03:04:05' },
        IFD3: {
          GPSLatitudeRef: 'S',
          GPSLatitude: '33/1 52/1 0/1',
          GPSLongitudeRef: 'E',
          GPSLongitude: '151/1 12/1 0/1',
        },
      })
      .toBuffer();
    const info = await extractExifInfo(photo);
    expect(info.location?.lat).toBeCloseTo(-33.866667, 5);
    expect(info.location?.lng).toBeCloseTo(151.2, 5);
    expect(info.location?.accuracyM).toBeUndefined();
    expect(info.takenAt?.toISOString()).toBe('2024-01-02T03:04:05.000Z');
  });

  it('returns nothing for photos without EXIF, with a 0,0 fix, or with garbage', async () => {
    expect(await extractExifInfo(await base().toBuffer())).toEqual({
      location: null,
      takenAt: null,
    });
    const nullIsland = await base()
      .withExif({
        IFD3: {
          GPSLatitudeRef: 'N',
          GPSLatitude: '0/1 0/1 0/1',
          GPSLongitudeRef: 'E',
          GPSLongitude: '0/1 0/1 0/1',
        },
      })
      .toBuffer();
    expect((await extractExifInfo(nullIsland)).location).toBeNull();
    expect(parseExifInfo(Buffer.from('Exif\0\0garbage-garbage'))).toEqual({
      location: null,
      takenAt: null,
    });
    expect(await extractExifInfo(Buffer.from('pas une image'))).toEqual({
      location: null,
      takenAt: null,
    });
  });
});
