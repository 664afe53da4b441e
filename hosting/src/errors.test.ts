import { FirebaseError } from 'firebase/app';
import { describe, expect, it } from 'vitest';
import { frenchError, withoutHttpStatus } from './errors.js';

/** A callable error as the Functions SDK builds it: code `functions/…`, HTTP status appended. */
const callableError = (code: string, message: string, status: number) =>
  new FirebaseError(`functions/${code}`, `${message} [${status}]`);

describe('French error messages', () => {
  it('drop the HTTP status the SDK appends to the server’s French message', () => {
    expect(
      frenchError(
        callableError(
          'resource-exhausted',
          'Trop d’identifications en une minute : réessayez dans 42 s.',
          429,
        ),
      ),
    ).toBe('Trop d’identifications en une minute : réessayez dans 42 s.');
    expect(
      frenchError(
        callableError(
          'invalid-argument',
          'Format d’image non pris en charge : envoyez un JPEG.',
          400,
        ),
      ),
    ).toBe('Format d’image non pris en charge : envoyez un JPEG.');
    expect(withoutHttpStatus('Modèle inconnu : « v2 ». [404] ')).toBe('Modèle inconnu : « v2 ».');
    // Brackets that are part of the text stay.
    expect(withoutHttpStatus('Voir [3] ci-dessous.')).toBe('Voir [3] ci-dessous.');
  });

  it('replace an English or internal message by a French one, without a status', () => {
    expect(frenchError(callableError('internal', 'INTERNAL', 500))).toBe(
      'Erreur interne du service : réessayez, puis signalez-la si elle persiste.',
    );
    expect(frenchError(callableError('resource-exhausted', 'Too many requests', 429))).toBe(
      'Trop de demandes pour le moment : réessayez plus tard.',
    );
    const unknown = frenchError(new FirebaseError('functions/unknown', 'Boom [502]'));
    expect(unknown).toBe('Erreur inattendue : Boom.');
    expect(unknown).not.toMatch(/\[\d{3}\]/);
  });
});
