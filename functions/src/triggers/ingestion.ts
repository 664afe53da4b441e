import { onObjectFinalized } from 'firebase-functions/storage';
import { onSchedule } from 'firebase-functions/scheduler';
import { FUNCTIONS_REGION, config } from '../config.js';
import { defaultBucket, firestore } from '../firebase.js';
import {
  ingestUploadRetrying,
  reingestStaleUploads,
  type IngestionDeps,
} from '../handlers/ingestion.js';

function ingestionDeps(): IngestionDeps {
  return {
    db: firestore(),
    bucket: defaultBucket(),
    limits: {
      maxBytes: config.maxUploadBytes.value(),
      maxPixels: config.maxInputPixels.value(),
      minSide: config.minImageSide.value(),
      maxSide: config.trainingMaxSide.value(),
    },
    now: () => new Date(),
  };
}

/**
 * Ingests admin uploads (incoming/...) into the training set. Retries are on: the handler
 * is idempotent and turns bad files into recorded rejections instead of throwing, so only
 * transient failures (network, Firestore contention) are retried. Concurrency is bounded
 * so a burst of large photos cannot exhaust one instance's memory.
 */
export const ingestTrainingUpload = onObjectFinalized(
  { region: FUNCTIONS_REGION, memory: '1GiB', concurrency: 4, retry: true, timeoutSeconds: 120 },
  async (event) => {
    await ingestUploadRetrying(
      {
        name: event.data.name,
        size: Number(event.data.size),
        contentType: event.data.contentType,
        metadata: event.data.metadata,
      },
      ingestionDeps(),
    );
  },
);

/** Uploads still waiting under incoming/ after 15 minutes lost their event: ingest them. */
export const sweepIncomingUploads = onSchedule(
  { region: FUNCTIONS_REGION, schedule: 'every 15 minutes', memory: '1GiB', timeoutSeconds: 540 },
  async () => {
    // 480 s of work within the 540 s timeout; what is left waits for the next run.
    await reingestStaleUploads(ingestionDeps(), { olderThanMs: 15 * 60_000, budgetMs: 480_000 });
  },
);
