import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Starts the trainer for one run; returns once the launch is accepted (not when it ends). */
export interface TrainingLauncher {
  /** `taskCount` (emulators only) overrides how many task processes share the run. */
  launch(runId: string, options?: { taskCount?: number }): Promise<void>;
}

/** The part of @google-cloud/run's JobsClient the launcher uses (faked in tests). */
export interface RunJobsClient {
  runJob(request: {
    name: string;
    overrides: { containerOverrides: { env: { name: string; value: string }[] }[] };
  }): Promise<unknown>;
}

/**
 * The trainer's backbone (param WILDLENS_TRAINER_BACKBONE: `auto`, an id, or a tfjs model by URL),
 * passed to every launch under the same name, so the functions' params are the one place to set it.
 */
export const TRAINER_BACKBONE_ENV = 'WILDLENS_TRAINER_BACKBONE';

export interface CloudRunJobConfig {
  projectId: string;
  region: string;
  jobName: string;
  backbone: string;
}

export function cloudRunJobPath(
  config: Pick<CloudRunJobConfig, 'projectId' | 'region' | 'jobName'>,
): string {
  return `projects/${config.projectId}/locations/${config.region}/jobs/${config.jobName}`;
}

/**
 * Production: one execution of the Cloud Run job per run; the run id and the backbone param
 * travel as env overrides, so the job definition (image, resources, task count, bucket) stays
 * deploy-time. runJob resolves once the execution is created; we do not wait for the
 * long-running operation.
 */
export class CloudRunJobLauncher implements TrainingLauncher {
  constructor(
    private readonly client: RunJobsClient,
    private readonly config: CloudRunJobConfig,
  ) {}

  async launch(runId: string): Promise<void> {
    await this.client.runJob({
      name: cloudRunJobPath(this.config),
      overrides: {
        containerOverrides: [
          {
            env: [
              { name: 'WILDLENS_RUN_ID', value: runId },
              { name: TRAINER_BACKBONE_ENV, value: this.config.backbone },
            ],
          },
        ],
      },
    });
  }
}

/** The repository root holding trainer/dist/main.js, searched upward from this file. */
export function findRepoRoot(from = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (let i = 0; i < 8; i++) {
    if (existsSync(path.join(dir, 'trainer', 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('trainer/ introuvable : lancez `npm run build` à la racine du dépôt.');
}

export interface LocalProcessOptions {
  repoRoot: string;
  /** Environment of the trainer: the emulator hosts and project of this process. */
  env: NodeJS.ProcessEnv;
  /** The backbone param, as for the Cloud Run job. */
  backbone: string;
  /** Number of task processes (CLOUD_RUN_TASK_INDEX / COUNT), like a sharded Cloud Run job. */
  taskCount?: number;
  logDir?: string;
}

/**
 * Emulators: the same trainer entry point as a detached child process (it outlives the
 * callable's request), its output in {logDir}/{runId}[-task].log: WILDLENS_TRAINER_LOG_DIR
 * (`npm start` keeps them with its saved state), else .cache/wildlens/trainer-logs.
 */
export class LocalProcessLauncher implements TrainingLauncher {
  constructor(private readonly options: LocalProcessOptions) {}

  async launch(runId: string, options?: { taskCount?: number }): Promise<void> {
    const main = path.join(this.options.repoRoot, 'trainer', 'dist', 'main.js');
    if (!existsSync(main))
      throw new Error(
        `${main} absent : lancez \`npm run build\` avant de démarrer un entraînement.`,
      );
    const logDir =
      this.options.logDir ??
      this.options.env.WILDLENS_TRAINER_LOG_DIR ??
      path.join(this.options.repoRoot, '.cache', 'wildlens', 'trainer-logs');
    mkdirSync(logDir, { recursive: true });
    const taskCount = options?.taskCount ?? this.options.taskCount ?? 1;
    for (let task = 0; task < taskCount; task++) {
      const suffix = taskCount > 1 ? `-task${task}` : '';
      const log = openSync(path.join(logDir, `${runId}${suffix}.log`), 'a');
      const child = spawn(process.execPath, [main], {
        cwd: this.options.repoRoot,
        detached: true,
        stdio: ['ignore', log, log],
        env: {
          ...this.options.env,
          [TRAINER_BACKBONE_ENV]: this.options.backbone,
          WILDLENS_RUN_ID: runId,
          CLOUD_RUN_TASK_INDEX: String(task),
          CLOUD_RUN_TASK_COUNT: String(taskCount),
        },
      });
      child.unref();
    }
  }
}

/** The functions emulator runs the trainer locally; deployed functions use the Cloud Run job. */
export function isEmulated(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.FUNCTIONS_EMULATOR === 'true';
}

/** Storage bucket of this Firebase project (FIREBASE_CONFIG is set in functions and emulator). */
export function defaultBucketName(env: NodeJS.ProcessEnv = process.env): string | undefined {
  try {
    return (JSON.parse(env.FIREBASE_CONFIG ?? '{}') as { storageBucket?: string }).storageBucket;
  } catch {
    return undefined;
  }
}
