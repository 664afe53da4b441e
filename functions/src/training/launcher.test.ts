import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CloudRunJobLauncher,
  LocalProcessLauncher,
  cloudRunJobPath,
  defaultBucketName,
  type RunJobsClient,
} from './launcher.js';

describe('CloudRunJobLauncher', () => {
  it('runs the configured job once with the run id and the backbone param as env overrides', async () => {
    const requests: Parameters<RunJobsClient['runJob']>[0][] = [];
    const fake: RunJobsClient = {
      runJob: async (request) => {
        requests.push(request);
        return [{ name: 'operations/123' }];
      },
    };
    const launcher = new CloudRunJobLauncher(fake, {
      projectId: 'wildlens-prod',
      region: 'europe-west1',
      jobName: 'wildlens-trainer',
      backbone: 'https://example.org/model.json#inputSize=224&normalisation=unit&license=MIT',
    });
    await launcher.launch('run-abc');
    expect(requests).toEqual([
      {
        name: 'projects/wildlens-prod/locations/europe-west1/jobs/wildlens-trainer',
        overrides: {
          containerOverrides: [
            {
              env: [
                { name: 'WILDLENS_RUN_ID', value: 'run-abc' },
                {
                  name: 'WILDLENS_TRAINER_BACKBONE',
                  value:
                    'https://example.org/model.json#inputSize=224&normalisation=unit&license=MIT',
                },
              ],
            },
          ],
        },
      },
    ]);
  });

  it('propagates a refused launch (the caller marks the run failed)', async () => {
    const launcher = new CloudRunJobLauncher(
      { runJob: async () => Promise.reject(new Error('PERMISSION_DENIED')) },
      { projectId: 'p', region: 'r', jobName: 'j', backbone: 'auto' },
    );
    await expect(launcher.launch('x')).rejects.toThrow('PERMISSION_DENIED');
  });

  it('builds the job resource name', () => {
    expect(cloudRunJobPath({ projectId: 'p', region: 'us-central1', jobName: 'j' })).toBe(
      'projects/p/locations/us-central1/jobs/j',
    );
  });
});

describe('LocalProcessLauncher', () => {
  it('spawns one detached trainer process per task with the run id and task env', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'wildlens-launcher-'));
    mkdirSync(path.join(root, 'trainer', 'dist'), { recursive: true });
    const out = path.join(root, 'out');
    mkdirSync(out);
    // A stand-in trainer that records the environment it was given, written then renamed: a
    // file that exists is complete.
    writeFileSync(
      path.join(root, 'trainer', 'dist', 'main.js'),
      `const fs = require('fs'); const f = ${JSON.stringify(out)} + '/' + process.env.CLOUD_RUN_TASK_INDEX + '.json'; fs.writeFileSync(f + '.tmp', JSON.stringify(process.env)); fs.renameSync(f + '.tmp', f);`,
    );
    await new LocalProcessLauncher({
      repoRoot: root,
      env: {
        PATH: process.env.PATH,
        FIRESTORE_EMULATOR_HOST: '127.0.0.1:8480',
        WILDLENS_TRAINER_BACKBONE: 'stale value from the emulator env',
      },
      backbone: 'mobilenet-v1-0.75',
      taskCount: 2,
    }).launch('run-42');
    // Two node processes start: polled until both wrote (Vitest's timeout only bounds a hang).
    while (!(existsSync(`${out}/0.json`) && existsSync(`${out}/1.json`)))
      await new Promise((r) => setTimeout(r, 50));
    for (const task of ['0', '1']) {
      const env = JSON.parse(readFileSync(`${out}/${task}.json`, 'utf8')) as Record<string, string>;
      expect(env).toMatchObject({
        WILDLENS_RUN_ID: 'run-42',
        CLOUD_RUN_TASK_INDEX: task,
        CLOUD_RUN_TASK_COUNT: '2',
        FIRESTORE_EMULATOR_HOST: '127.0.0.1:8480',
        WILDLENS_TRAINER_BACKBONE: 'mobilenet-v1-0.75',
      });
    }
    expect(
      existsSync(path.join(root, '.cache', 'wildlens', 'trainer-logs', 'run-42-task0.log')),
    ).toBe(true);
  });

  it('refuses to launch when the trainer is not built', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'wildlens-launcher-'));
    await expect(
      new LocalProcessLauncher({ repoRoot: root, env: {}, backbone: 'auto' }).launch('r'),
    ).rejects.toThrow(/npm run build/);
  });
});

it('reads the default bucket from FIREBASE_CONFIG', () => {
  expect(defaultBucketName({ FIREBASE_CONFIG: '{"storageBucket":"b.appspot.com"}' })).toBe(
    'b.appspot.com',
  );
  expect(defaultBucketName({ FIREBASE_CONFIG: 'oops' })).toBeUndefined();
});
