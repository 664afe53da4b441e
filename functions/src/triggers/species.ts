import { onCall } from '../common/callable.js';
import { FUNCTIONS_REGION } from '../config.js';
import { firestore } from '../firebase.js';
import {
  getSpecies as getSpeciesHandler,
  listSpecies as listSpeciesHandler,
} from '../handlers/species.js';
import { guarded } from '../common/errors.js';

export const listSpecies = onCall({ region: FUNCTIONS_REGION }, (request) =>
  guarded('species.list', () => listSpeciesHandler(request.data, { db: firestore() })),
);

export const getSpecies = onCall({ region: FUNCTIONS_REGION }, (request) =>
  guarded('species.get', () => getSpeciesHandler(request.data, { db: firestore() })),
);
