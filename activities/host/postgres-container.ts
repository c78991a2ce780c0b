/**
 * How a PostgreSQL module runs as a container: which binary, which user, which mounts. Shared by
 * the module's own container, its initdb run and the throwaway servers of restore checks.
 */
import { readFileSync } from 'node:fs';

import { postgresBinaryDirectory } from '../../lib/tools.js';
import type { ModulePlan } from '../../lib/spec/plan.js';
import type { ContainerSpec } from './container-arguments.js';

/** Where a module's volume appears inside its containers. */
export const volumeTarget = '/var/lib/dbplane';
export const dataDirectoryTarget = `${volumeTarget}/pgdata`;

/** The uid and gid PostgreSQL runs as: the host's postgres user under a local rootfs, 999 in the image. */
export function postgresUser(plan: Pick<ModulePlan, 'rootfs'>): { uid: number; gid: number } {
  if (!plan.rootfs) return { uid: 999, gid: 999 };
  const passwd = readFileSync(`${plan.rootfs.replace(/\/$/, '')}/etc/passwd`, 'utf8');
  const line = passwd.split('\n').find((entry) => entry.startsWith('postgres:'));
  if (!line)
    throw new Error(`no postgres user in ${plan.rootfs}/etc/passwd: install postgresql-15 on this host`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** A PostgreSQL binary's path inside the container. */
export function postgresBinary(plan: Pick<ModulePlan, 'rootfs'>, name: string): string {
  return plan.rootfs ? `${postgresBinaryDirectory}/${name}` : name;
}

export interface PostgresContainerOptions {
  name: string;
  volumeSource: string;
  port: number;
  address: string;
  restartPolicy: ContainerSpec['restartPolicy'];
  labels: Record<string, string>;
  /** Extra `-c name=value` settings given on the command line. */
  settings?: Record<string, string>;
}

/** The container that runs a PostgreSQL server on a data directory under volumeSource. */
export function postgresContainerSpec(plan: ModulePlan, options: PostgresContainerOptions): ContainerSpec {
  const settings = Object.entries(options.settings ?? {}).flatMap(([key, value]) => [
    '-c',
    `${key}=${value}`,
  ]);
  return {
    name: options.name,
    image: plan.image,
    rootfs: plan.rootfs,
    user: 'postgres',
    network: 'host',
    volumes: [{ source: options.volumeSource, target: volumeTarget }],
    command: [
      postgresBinary(plan, 'postgres'),
      '-D',
      dataDirectoryTarget,
      '-c',
      `port=${options.port}`,
      '-c',
      `listen_addresses=${options.address}`,
      '-c',
      'unix_socket_directories=/tmp',
      ...settings,
    ],
    healthCommand: [
      postgresBinary(plan, 'pg_isready'),
      '-h',
      options.address,
      '-p',
      String(options.port),
      '-q',
    ],
    healthIntervalSeconds: 10,
    // SIGINT is PostgreSQL's fast shutdown; the default SIGTERM waits for every client to leave.
    stopSignal: 'SIGINT',
    restartPolicy: options.restartPolicy,
    labels: options.labels,
  };
}
