import * as functionsV1 from 'firebase-functions/v1';
import { FUNCTIONS_REGION } from '../config.js';
import { defaultBucket, firestore } from '../firebase.js';
import { eraseAccount } from '../handlers/erasure.js';

/**
 * A deleted Firebase Auth account takes all its data with it: the job of the "Delete User
 * Data" extension, done here for this project's layout. Auth deletion events exist only as 1st
 * gen triggers. Retried on failure: the erasure is idempotent.
 */
export const eraseDeletedAccount = functionsV1
  .region(FUNCTIONS_REGION)
  .runWith({ timeoutSeconds: 540, failurePolicy: true })
  .auth.user()
  .onDelete(async (user) => {
    await eraseAccount(user.uid, {
      db: firestore(),
      bucket: defaultBucket(),
      now: () => new Date(),
    });
  });
