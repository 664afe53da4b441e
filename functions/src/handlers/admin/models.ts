import type { Firestore } from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import {
  RegistryError,
  promoteModelVersion,
  rollbackActiveModel,
} from '@wildlens/trainer/registry';
import { fail } from '../../common/errors.js';

export interface ModelAdminDeps {
  db: Firestore;
  now: () => Date;
}

function asHttpsError(err: unknown): never {
  if (err instanceof RegistryError)
    fail(err.code === 'not-found' ? 'not-found' : 'failed-precondition', err.messageFr);
  throw err;
}

export async function promoteModel(
  uid: string,
  data: unknown,
  deps: ModelAdminDeps,
): Promise<{ active: string }> {
  const version = (data as { version?: unknown } | null)?.version;
  if (typeof version !== 'string' || !/^[\w.-]{1,100}$/.test(version))
    fail('invalid-argument', 'Version de modèle invalide.');
  const result = await promoteModelVersion(deps.db, version, deps.now()).catch(asHttpsError);
  logger.info('admin.model_promoted', { version, previous: result.previous, by: uid });
  return { active: result.active };
}

export async function rollbackModel(
  uid: string,
  deps: ModelAdminDeps,
): Promise<{ active: string }> {
  const result = await rollbackActiveModel(deps.db, deps.now()).catch(asHttpsError);
  logger.info('admin.model_rolled_back', { active: result.active, by: uid });
  return result;
}
