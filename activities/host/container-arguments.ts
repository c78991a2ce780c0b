/**
 * What a container is made of, before anything runs: the spec, its checks, and the `podman run`
 * arguments it turns into, with a hash that tells when a running container no longer matches.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { ValidationError } from '../../lib/errors.js';

/** A host path mounted into the container. */
export interface ContainerVolume {
  source: string;
  target: string;
  readOnly?: boolean;
}

/** The container's resource limits, each set as both the soft and the hard limit. */
export interface ContainerLimits {
  /** Open files, soft and hard. */
  nofile: number;
  /** Processes of the container's user, soft and hard. */
  nproc: number;
}

/** Everything needed to run one container; the same spec always gives the same arguments. */
export interface ContainerSpec {
  name: string;
  /** The registry image; unused when rootfs is set. */
  image: string;
  /** A local root filesystem to run under a throwaway overlay instead of the image. */
  rootfs?: string | undefined;
  user?: string;
  network: 'host';
  volumes: ContainerVolume[];
  command: string[];
  /** Run without a shell; a one-element command runs through /bin/sh -c (Podman's rule). */
  healthCommand?: string[];
  healthIntervalSeconds?: number;
  restartPolicy: 'no' | 'on-failure' | 'always';
  labels: Record<string, string>;
  /** Passed by name on the command line and by value through Podman's environment, never in argv. */
  environment?: Record<string, string>;
  /** Defaults to the host's hard limits, capped; see containerLimits. */
  limits?: ContainerLimits;
  /** The signal `podman stop` sends first, e.g. SIGINT for PostgreSQL's fast shutdown. */
  stopSignal?: string;
  /** Further `podman run` options, placed before the image. */
  extraArguments?: string[];
}

/** How buildRunArguments launches: a long-lived detached container, or a one-shot removed after it ends. */
export type LaunchStyle = 'detached' | 'once';

/** Label on every container dbplane makes. */
export const managedLabel = 'dbplane.managed';
/** Label holding a hash of the run arguments, to tell when a container no longer matches its spec. */
export const configurationLabel = 'dbplane.configuration';

/** Limits used when a spec names none and the host's hard limits are unknown. */
export const defaultContainerLimits: ContainerLimits = { nofile: 20_000, nproc: 4_096 };

const namePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const labelKeyPattern = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/;
const environmentNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;
const userPattern = /^([a-z_][a-z0-9_-]{0,31}|\d+)(:([a-z_][a-z0-9_-]{0,31}|\d+))?$/;
const hostPathPattern = /^\/[^:,\0\n]*$/;
const signalPattern = /^SIG[A-Z0-9]+$/;

function check(valid: boolean, field: string, expected: string, received: unknown): void {
  if (!valid) throw new ValidationError(field, expected, JSON.stringify(received) ?? String(received));
}

/** Checks that name is a valid container name and returns it; the error names field. */
export function checkName(field: string, name: unknown): string {
  const expected = 'a container name of letters, digits, "_", "." and "-", at most 63, not starting with "-"';
  check(typeof name === 'string' && namePattern.test(name), field, expected, name);
  return name as string;
}

function checkSpec(spec: ContainerSpec): void {
  const { healthCommand, healthIntervalSeconds: interval, limits, stopSignal, user } = spec;
  const isPath = (value: string) => hostPathPattern.test(value);
  const isCount = (value: number) => Number.isInteger(value) && value > 0;
  const pathExpected = 'an absolute path without ":" or ","';

  checkName('name', spec.name);
  check(spec.network === 'host', 'network', '"host"', spec.network);
  const policies = ['no', 'on-failure', 'always'];
  check(policies.includes(spec.restartPolicy), 'restartPolicy', policies.join(', '), spec.restartPolicy);

  if (spec.rootfs !== undefined) {
    check(isPath(spec.rootfs), 'rootfs', pathExpected, spec.rootfs);
    check(spec.command.length > 0, 'command', 'a command to run in the rootfs', spec.command);
  } else {
    check(/^\S+$/.test(spec.image), 'image', 'an image reference without spaces', spec.image);
  }

  const userExpected = 'a user name or uid, optionally with ":group"';
  if (user !== undefined) check(userPattern.test(user), 'user', userExpected, user);
  spec.volumes.forEach((volume, index) => {
    check(isPath(volume.source), `volumes[${index}].source`, pathExpected, volume.source);
    check(isPath(volume.target), `volumes[${index}].target`, pathExpected, volume.target);
  });

  for (const [key, value] of Object.entries(spec.labels)) {
    check(key !== configurationLabel, 'labels', `keys other than ${configurationLabel}`, key);
    check(labelKeyPattern.test(key), 'labels', 'keys of letters, digits, ".", "_", "/" and "-"', key);
    check(!/[\0\n]/.test(value), `labels.${key}`, 'a value on one line', value);
  }
  for (const name of Object.keys(spec.environment ?? {})) {
    check(environmentNamePattern.test(name), 'environment', 'names of letters, digits and "_"', name);
  }

  if (healthCommand) check(healthCommand.length > 0, 'healthCommand', 'at least one element', healthCommand);
  if (interval !== undefined)
    check(isCount(interval), 'healthIntervalSeconds', 'a positive whole number', interval);
  if (limits) {
    check(isCount(limits.nofile), 'limits.nofile', 'a positive whole number', limits.nofile);
    check(isCount(limits.nproc), 'limits.nproc', 'a positive whole number', limits.nproc);
  }
  if (stopSignal !== undefined)
    check(signalPattern.test(stopSignal), 'stopSignal', 'a name such as SIGINT', stopSignal);
}

function configurationHash(
  options: readonly string[],
  target: readonly string[],
  spec: ContainerSpec,
): string {
  const environment = Object.entries(spec.environment ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const text = JSON.stringify({ options, target, command: spec.command, environment });
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** The `podman run` arguments for a spec, and the hash of its configuration they carry as a label. */
export function buildRun(spec: ContainerSpec, launch: LaunchStyle): { args: string[]; hash: string } {
  checkSpec(spec);
  const limits = spec.limits ?? defaultContainerLimits;
  const labels = Object.entries({ ...spec.labels, [managedLabel]: 'true' }).sort(([a], [b]) =>
    a.localeCompare(b),
  );
  const environmentNames = Object.keys(spec.environment ?? {}).sort();

  const options = [
    ['--name', spec.name],
    // crun, Podman's default runtime, fails on these hosts' cgroup layout.
    ['--runtime', 'runc'],
    ['--network', spec.network],
    // runc cannot apply Podman's default limits where they exceed the host's hard limits.
    ['--ulimit', `nofile=${limits.nofile}:${limits.nofile}`],
    ['--ulimit', `nproc=${limits.nproc}:${limits.nproc}`],
    spec.user ? ['--user', spec.user] : [],
    ...spec.volumes.map((volume) => [
      '-v',
      `${volume.source}:${volume.target}${volume.readOnly ? ':ro' : ''}`,
    ]),
    ...environmentNames.map((name) => ['--env', name]),
    ...labels.map(([key, value]) => ['--label', `${key}=${value}`]),
    spec.healthCommand ? ['--health-cmd', JSON.stringify(spec.healthCommand)] : [],
    spec.healthCommand && spec.healthIntervalSeconds
      ? ['--health-interval', `${spec.healthIntervalSeconds}s`]
      : [],
    spec.stopSignal ? ['--stop-signal', spec.stopSignal] : [],
    launch === 'detached' ? ['--restart', spec.restartPolicy] : [],
    spec.extraArguments ?? [],
  ].flat();
  const target = spec.rootfs !== undefined ? ['--rootfs', `${spec.rootfs}:O`] : [spec.image];
  const hash = configurationHash(options, target, spec);
  // A one-shot run replaces a leftover of the same name from an attempt that was killed.
  const head = launch === 'detached' ? ['run', '--detach'] : ['run', '--rm', '--replace'];
  return {
    args: [...head, ...options, '--label', `${configurationLabel}=${hash}`, ...target, ...spec.command],
    hash,
  };
}

/**
 * The `podman run` arguments for a spec, from "run" on. All options come first: with --rootfs the
 * root filesystem takes the image's place, and everything after it is the command.
 */
export function buildRunArguments(spec: ContainerSpec, launch: LaunchStyle = 'detached'): string[] {
  return buildRun(spec, launch).args;
}

function hardLimit(limitsText: string, title: string): number | undefined {
  const line = limitsText.split('\n').find((candidate) => candidate.startsWith(title));
  const hard = line?.slice(title.length).trim().split(/\s+/)[1];
  if (hard === undefined) return undefined;
  return hard === 'unlimited' ? Number.POSITIVE_INFINITY : Number(hard);
}

/** Limits a container can get on this host: the defaults, lowered to this process's hard limits. */
export async function containerLimits(): Promise<ContainerLimits> {
  let limitsText = '';
  try {
    limitsText = await readFile('/proc/self/limits', 'utf8');
  } catch {
    return defaultContainerLimits;
  }
  const nofile = hardLimit(limitsText, 'Max open files') ?? defaultContainerLimits.nofile;
  const nproc = hardLimit(limitsText, 'Max processes') ?? defaultContainerLimits.nproc;
  return {
    nofile: Math.min(defaultContainerLimits.nofile, nofile),
    nproc: Math.min(defaultContainerLimits.nproc, nproc),
  };
}
