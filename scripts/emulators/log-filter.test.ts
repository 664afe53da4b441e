import { describe, expect, it } from 'vitest';
import { consoleLine } from './log-filter.js';

describe('consoleLine (what npm start shows of the emulators output)', () => {
  it('keeps function executions, info logs and the known noise in the file only', () => {
    for (const line of [
      'i  functions: Beginning execution of "europe-west1-ingestTrainingUpload"',
      'i  functions: Finished "europe-west1-ingestTrainingUpload" in 812.5ms',
      '>  {"severity":"INFO","message":"ingestion.accepted","uploadId":"abc"}',
      '>  {"severity":"WARNING","message":"ingestion.rejected","reason":"trop petite"}',
      '⚠  Unable to fetch the CLI MOTD and remote config.',
      '⬢  emulators: firebase-tools will drop support for Java version < 21 soon',
      '⚠  firestore: Env variable override detected. Using firestore emulator at /x.jar',
      '✔  functions: Loaded functions definitions from source: health.',
      '',
    ])
      expect(consoleLine(line), line).toBeUndefined();
  });

  it('shows function errors, with their event and fields', () => {
    expect(
      consoleLine('>  {"severity":"ERROR","message":"identify.failed","code":"internal"}'),
    ).toBe('[fonctions] ERROR identify.failed {"code":"internal"}');
  });

  it('shows the emulators warnings and errors that are not known noise', () => {
    expect(consoleLine('⚠  functions: Your function timed out after ~60s.')).toBe(
      '[émulateurs] ⚠  functions: Your function timed out after ~60s.',
    );
    expect(consoleLine('!!  functions: Failed to load function definition')).toMatch(
      /^\[émulateurs\] !!/,
    );
    expect(consoleLine('Error: listen EADDRINUSE: address already in use 127.0.0.1:5001')).toMatch(
      /EADDRINUSE/,
    );
  });
});
