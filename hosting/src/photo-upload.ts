/** A photo chosen in the browser, as the identification callables take it (base64). */

export const ACCEPTED_PHOTO_TYPES = ['image/jpeg', 'image/png', 'image/webp'];
/** Larger photos are re-encoded client-side (the callable payload is limited). */
const REENCODE_ABOVE_BYTES = 4 * 1024 * 1024;
const MAX_SIDE = 1600;

/** The French refusal of a file the API would not take, or null. */
export function photoTypeProblem(file: File): string | null {
  return ACCEPTED_PHOTO_TYPES.includes(file.type)
    ? null
    : `Format non pris en charge (${file.type || 'inconnu'}) : JPEG, PNG ou WebP attendu.`;
}

function toBase64(buffer: ArrayBuffer): string {
  const bytes = new Uint8Array(buffer);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

async function reencode(file: File): Promise<Blob> {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext('2d')?.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return new Promise((resolve, reject) =>
    canvas.toBlob(
      (blob) => (blob ? resolve(blob) : reject(new Error('Impossible de réduire la photo.'))),
      'image/jpeg',
      0.9,
    ),
  );
}

/** The photo as base64, re-encoded first when it is large. */
export async function photoPayload(file: File): Promise<string> {
  const blob = file.size > REENCODE_ABOVE_BYTES ? await reencode(file) : file;
  return toBase64(await blob.arrayBuffer());
}
