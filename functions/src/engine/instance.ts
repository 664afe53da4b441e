import { COLLECTIONS, storagePrefixReader } from '@wildlens/shared';
import { setEngineStatus } from '../common/engine-status.js';
import { defaultBucket, firestore } from '../firebase.js';
import { identifyParams } from './params.js';
import { config } from '../config.js';
import { corruptImage } from '../images/inspect.js';
import {
  ModelEngine,
  parsePointer,
  servingModel,
  type ActiveModelPointer,
  type ServingModel,
} from './model-engine.js';
import { FIRESTORE_DEADLINE_MS, withDeadline } from '../common/transient.js';

/** Loads a model version from Storage; `onLoaded` hears the backend (the engine reports it). */
export async function loadServingModel(
  pointer: ActiveModelPointer,
  onLoaded?: (backend: { name: string; simd?: boolean }) => void,
): Promise<ServingModel> {
  // Loaded on first use: TensorFlow costs every other function's cold start half a second.
  const { ImageDecodeError, initBackend, loadFootprintModel } = await import('@wildlens/model');
  const backend = await initBackend();
  // The model decodes with the inspector's pixel bound (and the same decoder policy).
  const model = await loadFootprintModel(
    storagePrefixReader(defaultBucket(), pointer.storagePrefix),
    { maxInputPixels: config.maxInputPixels.value() },
  );
  onLoaded?.(backend);
  return servingModel(
    pointer.version,
    model,
    { matches: (err) => err instanceof ImageDecodeError, rejection: corruptImage },
    model.manifest.dialogue ?? null,
  );
}

let engine: ModelEngine | null = null;

/** The instance-wide engine: one model per instance, shared by concurrent requests. */
export function modelEngine(): ModelEngine {
  engine ??= new ModelEngine({
    readPointer: async () => {
      const snap = await withDeadline(
        firestore().collection(COLLECTIONS.config).doc('activeModel').get(),
        FIRESTORE_DEADLINE_MS,
        'active model pointer',
      );
      return parsePointer(snap.data());
    },
    load: (pointer) =>
      loadServingModel(pointer, (backend) =>
        setEngineStatus({
          loadedVersion: pointer.version,
          backend: `${backend.name}${backend.name === 'wasm' ? (backend.simd ? '+simd' : '') : ''}`,
        }),
      ),
    onLoaded: (version) => {
      if (version === null) setEngineStatus({ loadedVersion: null, backend: null });
    },
    now: () => Date.now(),
    recheckMs: () => identifyParams.modelRecheckSeconds() * 1000,
    loadWaitMs: () => identifyParams.modelWaitSeconds() * 1000,
  });
  return engine;
}
