import type { Firestore } from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import {
  RegistryError,
  promoteModelVersion,
  rollbackActiveModel,
} from '@wildlens/trainer/registry';
import { fail } from '../../common/errors.js';
import { noParameters, parseInput, promoteModelRequest } from '../../api/schemas.js';

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
  const { version } = parseInput(promoteModelRequest, data);
  const result = await promoteModelVersion(deps.db, version, deps.now()).catch(asHttpsError);
  logger.info('admin.model_promoted', { version, previous: result.previous, by: uid });
  return { active: result.active };
}

export async function rollbackModel(
  uid: string,
  data: unknown,
  deps: ModelAdminDeps,
): Promise<{ active: string }> {
  parseInput(noParameters, data);
  const result = await rollbackActiveModel(deps.db, deps.now()).catch(asHttpsError);
  logger.info('admin.model_rolled_back', { active: result.active, by: uid });
  return result;
}
