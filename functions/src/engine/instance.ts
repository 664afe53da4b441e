import { COLLECTIONS, storagePrefixReader } from '@wildlens/shared';
import { setEngineStatus } from '../common/engine-status.js';
import { defaultBucket, firestore } from '../firebase.js';
import { identifyParams } from './params.js';
import {
  ModelEngine,
  parsePointer,
  type ActiveModelPointer,
  type ServingModel,
} from './model-engine.js';
import { FIRESTORE_DEADLINE_MS, withDeadline } from '../common/transient.js';

async function loadFromStorage(pointer: ActiveModelPointer): Promise<ServingModel> {
  // Loaded on first use: TensorFlow costs every other function's cold start half a second.
  const { initBackend, loadFootprintModel } = await import('@wildlens/model');
  const backend = await initBackend();
  const model = await loadFootprintModel(
    storagePrefixReader(defaultBucket(), pointer.storagePrefix),
  );
  setEngineStatus({
    loadedVersion: pointer.version,
    backend: `${backend.name}${backend.name === 'wasm' ? (backend.simd ? '+simd' : '') : ''}`,
  });
  return {
    version: pointer.version,
    predict: (image, options) => model.predict(image, options),
    dialogue: model.manifest.dialogue ?? null,
    dispose: () => model.dispose(),
  };
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
    load: loadFromStorage,
    onLoaded: (version) => {
      if (version === null) setEngineStatus({ loadedVersion: null, backend: null });
    },
    now: () => Date.now(),
    recheckMs: () => identifyParams.modelRecheckSeconds() * 1000,
  });
  return engine;
}
