/** Helpers of the training-pipeline e2e tests: uploads through createUploadUrls + PUT. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { httpsCallable } from 'firebase/functions';
import sharp from 'sharp';
import { speciesIdFromLabel } from '@wildlens/shared';
import { REPO_ROOT } from '../../scripts/emulators/stack.js';
import { HANG_BOUND_MS } from '../hang-bound.js';
import { CALL_OPTIONS, adminDb, eventually, type Client } from './support.js';

export const DEV_DATASET = path.resolve(REPO_ROOT, '..', 'shared', 'datasets', 'footprints-dev');

export interface LocalPhoto {
  speciesId: string;
  name: string;
  data: Buffer;
}

/** `perSpecies` real photos of `species` folders of ../shared, or undefined without it. */
export function devSubset(species: string[], perSpecies: number): LocalPhoto[] | undefined {
  const manifestPath = path.join(DEV_DATASET, 'manifest.json');
  if (!existsSync(manifestPath)) return undefined;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    images: { label: string; file: string }[];
  };
  return species.flatMap((id) =>
    manifest.images
      .filter((i) => speciesIdFromLabel(i.label) === id)
      .slice(0, perSpecies)
      .map((i) => ({
        speciesId: id,
        name: path.basename(i.file),
        data: readFileSync(path.join(DEV_DATASET, i.file)),
      })),
  );
}

/** Synthetic classes (one colour and stripe pattern per species, noise per photo). */
export async function syntheticSubset(
  species: string[],
  perSpecies: number,
): Promise<LocalPhoto[]> {
  const out: LocalPhoto[] = [];
  for (const [s, speciesId] of species.entries()) {
    for (let k = 0; k < perSpecies; k++) {
      const w = 192;
      const raw = Buffer.alloc(w * w * 3);
      let x = (s + 1) * 7919 + k * 104729;
      for (let p = 0; p < w * w; p++) {
        x = (x * 1103515245 + 12345) >>> 0;
        const stripe = Math.floor((p % w) / (8 + s * 6)) % 2;
        const noise = x & 0x3f;
        raw[p * 3] = stripe ? 40 * s + noise : 200 - 30 * s;
        raw[p * 3 + 1] = stripe ? 180 - 35 * s : 60 + noise;
        raw[p * 3 + 2] = (90 + 50 * s + noise) & 0xff;
      }
      const data = await sharp(raw, { raw: { width: w, height: w, channels: 3 } })
        .jpeg()
        .toBuffer();
      out.push({ speciesId, name: `synth-${speciesId}-${k}.jpg`, data });
    }
  }
  return out;
}

export interface UploadsResponse {
  batchId: string;
  uploads: { name: string; objectName: string; uploadId: string; uploadUrl: string }[];
}

/** What the admin page does: ask for upload URLs, then PUT each file's bytes. */
export async function uploadThroughUrls(
  admin: Client,
  speciesId: string,
  files: { name: string; data: Buffer; contentType?: string }[],
): Promise<UploadsResponse> {
  const { data } = await httpsCallable<unknown, UploadsResponse>(
    admin.functions,
    'createUploadUrls',
    CALL_OPTIONS,
  )({
    speciesId,
    files: files.map((f) => ({
      name: f.name,
      size: f.data.length,
      contentType: f.contentType ?? 'image/jpeg',
    })),
  });
  await Promise.all(
    data.uploads.map(async (u, i) => {
      const file = files[i] as { data: Buffer; contentType?: string };
      const res = await fetch(u.uploadUrl, {
        method: 'PUT',
        headers: { 'Content-Type': file.contentType ?? 'image/jpeg' },
        body: new Uint8Array(file.data),
      });
      if (!res.ok) throw new Error(`PUT ${u.objectName}: ${res.status} ${await res.text()}`);
    }),
  );
  return data;
}

export async function uploadRecord(uploadId: string, timeoutMs = HANG_BOUND_MS) {
  const snap = await eventually(
    async () => {
      const s = await adminDb().doc(`uploads/${uploadId}`).get();
      return s.exists ? s : undefined;
    },
    { what: `upload ${uploadId}`, timeoutMs },
  );
  return snap.data() as Record<string, unknown>;
}

export async function runFinished(runId: string, timeoutMs = HANG_BOUND_MS) {
  return eventually(
    async () => {
      const s = await adminDb().doc(`trainingRuns/${runId}`).get();
      const status = s.get('status') as string;
      return status === 'succeeded' || status === 'failed'
        ? (s.data() as Record<string, unknown>)
        : undefined;
    },
    { what: `end of training run ${runId}`, timeoutMs, intervalMs: 1000 },
  );
}
