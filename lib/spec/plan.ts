/**
 * A module plan: everything a workflow needs to know about one module, resolved from the spec.
 * Plans travel in workflow histories, so they hold paths and names, never secrets.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';

import { NotSupportedError, ValidationError } from '../errors.js';
import { checkModuleName, supportedModules, type ModuleName } from '../names.js';
import { parseSize } from '../size.js';
import { resolveRoleNames, type BackupPolicy, type PlatformSpec } from './schema.js';

export interface ModulePaths {
  dataRoot: string;
  /** The XFS image file behind the module's volume (unused in directory mode). */
  volumeImage: string;
  /** Where the module's volume is mounted. */
  mountPoint: string;
  /** The PostgreSQL data directory, inside the volume. */
  dataDirectory: string;
  /** Owner-only folder of generated passwords. */
  secretsDirectory: string;
  /** Image copies and mounts of snapshots while a backup runs. */
  snapshotsDirectory: string;
  /** Scratch space for restore checks. */
  scratchDirectory: string;
  repository: string;
  catalogFile: string;
}

export interface ModulePlan {
  module: ModuleName;
  engine: string;
  version: string;
  host: string;
  taskQueue: string;
  address: string;
  image: string;
  rootfs: string | undefined;
  containerName: string;
  port: number;
  database: string;
  roles: { owner: string; readWrite: string; readOnly: string };
  extensions: string[];
  volume: {
    sizeBytes: number;
    mode: 'auto' | 'loop' | 'directory';
    mountOptions: string[];
    reflink: boolean;
  };
  /** Bytes of memory to tune for; undefined means the host's memory, read on the host. */
  memoryBytes: number | undefined;
  settings: Record<string, string>;
  backup: (BackupPolicy & { repository: string }) | undefined;
  paths: ModulePaths;
}

/**
 * A module's container name. The data root's digest in it keeps two installations on one host (a
 * second checkout, a test run) from ever taking each other's containers.
 */
export function containerNameFor(hostName: string, module: string, dataRoot: string): string {
  const digest = createHash('sha256').update(dataRoot).digest('hex').slice(0, 8);
  return `dbplane-${hostName}-${module}-${digest}`;
}

/** The data root a host uses: DBPLANE_DATA_ROOT, else the host's, else the spec's. */
export function resolveDataRoot(spec: PlatformSpec, specDirectory: string, hostName: string): string {
  const host = spec.hosts.find((candidate) => candidate.name === hostName);
  const configured = process.env.DBPLANE_DATA_ROOT || host?.dataRoot || spec.dataRoot;
  return path.resolve(specDirectory, configured);
}

/** Resolves one module of the spec into a plan; refuses modules this version cannot run. */
export function planModule(spec: PlatformSpec, specDirectory: string, name: unknown): ModulePlan {
  const moduleName = checkModuleName('module', name);
  const module = spec.modules[moduleName];
  if (!module) {
    const declared = Object.keys(spec.modules).join(', ') || '(none)';
    throw new ValidationError(
      'module',
      `a module declared in the spec (${declared})`,
      JSON.stringify(moduleName),
    );
  }
  if (!supportedModules.includes(moduleName)) {
    throw new NotSupportedError(
      `module ${moduleName}`,
      `this version provisions ${supportedModules.join(', ')} only`,
    );
  }
  if (module.engine !== 'postgresql') {
    throw new NotSupportedError(`engine ${module.engine} for ${moduleName}`, 'usersdb runs on postgresql');
  }
  if (module.version !== '15') {
    throw new NotSupportedError(`postgresql ${module.version}`, 'this version runs PostgreSQL 15');
  }

  const host = spec.hosts.find((candidate) => candidate.name === module.host);
  if (!host)
    throw new ValidationError(`modules.${moduleName}.host`, 'a declared host', JSON.stringify(module.host));

  const volumeEntry = Object.entries(module.volumes)[0];
  if (!volumeEntry) throw new ValidationError(`modules.${moduleName}.volumes`, 'at least one volume', 'none');
  const [volumeName, volume] = volumeEntry;

  const dataRoot = resolveDataRoot(spec, specDirectory, host.name);
  const mountPoint = path.join(dataRoot, 'volumes', moduleName, volumeName);
  const repository = module.backup?.repository
    ? path.resolve(dataRoot, module.backup.repository)
    : path.join(dataRoot, 'backups', moduleName);

  return {
    module: moduleName,
    engine: module.engine,
    version: module.version,
    host: host.name,
    taskQueue: host.taskQueue,
    address: host.address,
    image: module.image,
    rootfs: module.rootfs,
    containerName: containerNameFor(host.name, moduleName, dataRoot),
    port: module.port,
    database: module.database ?? moduleName,
    roles: resolveRoleNames(moduleName, module.roles),
    extensions: module.extensions,
    volume: {
      sizeBytes: parseSize(`modules.${moduleName}.volumes.${volumeName}.size`, volume.size),
      mode: host.xfs.mode,
      mountOptions: host.xfs.mountOptions,
      reflink: host.xfs.reflink,
    },
    memoryBytes:
      module.tuning.memory === 'auto'
        ? undefined
        : parseSize(`modules.${moduleName}.tuning.memory`, module.tuning.memory),
    settings: Object.fromEntries(
      Object.entries(module.tuning.settings).map(([key, value]) => [key, String(value)]),
    ),
    backup: module.backup ? { ...module.backup, repository } : undefined,
    paths: {
      dataRoot,
      volumeImage: path.join(dataRoot, 'images', `${moduleName}-${volumeName}.xfs`),
      mountPoint,
      dataDirectory: path.join(mountPoint, 'pgdata'),
      secretsDirectory: path.join(dataRoot, 'secrets', moduleName),
      snapshotsDirectory: path.join(dataRoot, 'snapshots', moduleName),
      scratchDirectory: path.join(dataRoot, 'scratch', moduleName),
      repository,
      catalogFile: path.join(dataRoot, 'catalog', `${moduleName}.json`),
    },
  };
}

/** Names of the spec's modules that are enabled, in provisioning order. */
export function enabledModules(spec: PlatformSpec): ModuleName[] {
  return (Object.keys(spec.modules) as ModuleName[]).filter((name) => spec.modules[name]?.enabled);
}
