import { describe, expect, it } from 'vitest';
import { accountKindsFrom } from './observation-actions.js';

describe('what the retention purge asks Auth (issue 20, finding 3)', () => {
  it('tells a still-anonymous account from one linked to a sign-in provider since, or deleted', async () => {
    const asked: string[][] = [];
    // Auth's batched lookup answers the accounts it has; a deleted one is simply absent.
    const kinds = accountKindsFrom({
      getUsers: async (ids) => {
        asked.push(ids.map((id) => id.uid));
        return {
          users: [
            { uid: 'anonyme', providerData: [] },
            { uid: 'lie', providerData: [{ providerId: 'password' }] },
          ],
        };
      },
    });
    expect(await kinds(['anonyme', 'lie', 'supprime'])).toEqual(
      new Map([
        ['anonyme', 'anonymous'],
        ['lie', 'linked'],
        ['supprime', 'deleted'],
      ]),
    );
    expect(asked).toEqual([['anonyme', 'lie', 'supprime']]);
    expect(await kinds([])).toEqual(new Map());
    expect(asked).toHaveLength(1);
  });
});
