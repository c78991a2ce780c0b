/**
 * Host-side provisioning steps of a PostgreSQL module. Each step is idempotent and reports what
 * it created, so a failed run can undo exactly that and nothing else.
 */
import { appendFile, chmod, chown, copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import path from 'node:path';

import { Context } from '@temporalio/activity';

import { ensureSecrets, removeSecrets, secretFile, type SecretName } from '../../lib/secrets.js';
import type { ModulePlan } from '../../lib/spec/plan.js';
import { postgresTuning } from '../../lib/tuning.js';
import { activityLogger } from '../logging.js';
import {
  containerState,
  ensureContainerRunning,
  removeContainer,
  runToCompletion,
  waitUntilHealthy,
} from './container-driver.js';
import {
  postgresBinary,
  postgresContainerSpec,
  postgresUser,
  volumeTarget,
  dataDirectoryTarget,
} from './postgres-container.js';
import { ensureVolume, removeVolume } from './volume-driver.js';

const settingsFileName = 'dbplane.conf';

function logger(plan: ModulePlan) {
  return activityLogger({ module: plan.module, host: plan.host });
}

export interface PreparedVolume {
  created: boolean;
  mode: string;
  warning?: string;
}

/** Makes sure the module's volume exists and is mounted, owned by the database's user. */
export async function prepareVolume(plan: ModulePlan): Promise<PreparedVolume> {
  const log = logger(plan);
  const volume = await ensureVolume(plan, log);
  const user = postgresUser(plan);
  await chown(volume.mountPoint, user.uid, user.gid);
  await chmod(volume.mountPoint, 0o700);
  log.info('volume ready', { mode: volume.mode, created: volume.created, mountPoint: volume.mountPoint });
  return {
    created: volume.created,
    mode: volume.mode,
    ...(volume.warning ? { warning: volume.warning } : {}),
  };
}

/** Removes the module's volume and everything on it: only used to undo a failed first provisioning. */
export async function destroyVolume(plan: ModulePlan): Promise<void> {
  await removeVolume(plan, logger(plan));
}

/** Creates the secrets that do not exist yet; returns only their names. */
export async function createSecrets(plan: ModulePlan): Promise<SecretName[]> {
  const created = await ensureSecrets(plan.paths.secretsDirectory);
  logger(plan).info('secrets ready', { created });
  return created;
}

/** Deletes the named secrets. */
export async function deleteSecrets(plan: ModulePlan, names: SecretName[]): Promise<void> {
  await removeSecrets(plan.paths.secretsDirectory, names);
}

export interface InitializedDataDirectory {
  created: boolean;
  settings: Record<string, string>;
}

/** Runs initdb on an empty volume, then writes the tuned settings; an existing cluster is kept. */
export async function initializeDataDirectory(plan: ModulePlan): Promise<InitializedDataDirectory> {
  const log = logger(plan);
  const user = postgresUser(plan);
  let created = false;

  if (!existsSync(path.join(plan.paths.dataDirectory, 'PG_VERSION'))) {
    // A half-made directory from an interrupted initdb would make initdb refuse; start clean.
    await rm(plan.paths.dataDirectory, { recursive: true, force: true });
    const passwordFile = path.join(plan.paths.mountPoint, '.initdb-password');
    await copyFile(secretFile(plan.paths.secretsDirectory, 'superuser'), passwordFile);
    await chown(passwordFile, user.uid, user.gid);
    await chmod(passwordFile, 0o600);
    try {
      await runToCompletion(
        {
          name: `${plan.containerName}-initdb`,
          image: plan.image,
          rootfs: plan.rootfs,
          user: 'postgres',
          network: 'host',
          volumes: [{ source: plan.paths.mountPoint, target: volumeTarget }],
          command: [
            postgresBinary(plan, 'initdb'),
            '-D',
            dataDirectoryTarget,
            '--username=postgres',
            `--pwfile=${volumeTarget}/.initdb-password`,
            '--auth-local=peer',
            '--auth-host=scram-sha-256',
            '--encoding=UTF8',
            '--locale=C.UTF-8',
            '--data-checksums',
          ],
          restartPolicy: 'no',
          labels: { 'dbplane.module': plan.module, 'dbplane.role': 'initdb' },
        },
        Context.current().cancellationSignal,
      );
    } finally {
      await rm(passwordFile, { force: true });
    }
    created = true;
  }

  const memoryBytes = plan.memoryBytes ?? totalmem();
  const settings = {
    ...postgresTuning(memoryBytes),
    wal_keep_size: '1GB',
    archive_mode: 'off',
    ...plan.settings,
  };
  const lines = Object.entries(settings).map(([key, value]) => `${key} = '${value.replace(/'/g, "''")}'`);
  const settingsFile = path.join(plan.paths.dataDirectory, settingsFileName);
  await writeFile(
    settingsFile,
    `# Written by dbplane from the platform spec; edits are overwritten.\n${lines.join('\n')}\n`,
  );
  await chown(settingsFile, user.uid, user.gid);
  const mainFile = path.join(plan.paths.dataDirectory, 'postgresql.conf');
  const include = `include '${settingsFileName}'`;
  if (!(await readFile(mainFile, 'utf8')).includes(include)) await appendFile(mainFile, `\n${include}\n`);

  log.info('data directory ready', { created, memoryBytes, settings });
  return { created, settings };
}

export interface StartedContainer {
  created: boolean;
  started: boolean;
}

/** Starts the module's server container (creating it when missing) and waits until it is healthy. */
export async function startModuleContainer(plan: ModulePlan): Promise<StartedContainer> {
  const log = logger(plan);
  const context = Context.current();
  const spec = postgresContainerSpec(plan, {
    name: plan.containerName,
    volumeSource: plan.paths.mountPoint,
    port: plan.port,
    address: plan.address,
    restartPolicy: 'on-failure',
    labels: { 'dbplane.module': plan.module, 'dbplane.host': plan.host, 'dbplane.role': 'server' },
  });
  const result = await ensureContainerRunning(spec, log);
  await waitUntilHealthy(plan.containerName, {
    timeoutMilliseconds: 120_000,
    signal: context.cancellationSignal,
    onAttempt: (attempt: number) => context.heartbeat({ phase: 'waiting for health', attempt }),
  });
  log.info('container healthy', { ...result, container: plan.containerName });
  return result;
}

/** Stops and removes the module's server container; the volume keeps the data. */
export async function removeModuleContainer(plan: ModulePlan): Promise<void> {
  if ((await containerState(plan.containerName)) === 'missing') return;
  await removeContainer(plan.containerName);
}
