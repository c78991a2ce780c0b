/**
 * Containers on a host, run by Podman with runc. Every call is idempotent where it can be, and
 * Podman's failures become errors that say which container and what went wrong.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

import { CommandFailedError, ValidationError, type CommandFailure } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { runCommand, type RunOptions } from '../../lib/process.js';
import { toolPath } from '../../lib/tools.js';

export interface ContainerVolume {
  source: string;
  target: string;
  readOnly?: boolean;
}

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

export type ContainerState = 'running' | 'exited' | 'missing' | (string & {});

/** Podman knows no container of that name. */
export class ContainerMissingError extends CommandFailedError {
  override readonly name = 'ContainerMissingError';
}

/** The container stopped while dbplane waited for it to become healthy. */
export class ContainerExitedError extends CommandFailedError {
  override readonly name = 'ContainerExitedError';

  constructor(failure: CommandFailure, explanation: string) {
    super(failure);
    this.message = explanation;
  }
}

/** The container kept running but did not pass its health check in time. */
export class ContainerUnhealthyError extends CommandFailedError {
  override readonly name = 'ContainerUnhealthyError';

  constructor(failure: CommandFailure, explanation: string) {
    super(failure);
    this.message = explanation;
  }
}

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
const exitedStates = new Set(['exited', 'stopped', 'dead', 'created', 'configured']);

function podman(): string {
  return toolPath('podman');
}

function check(valid: boolean, field: string, expected: string, received: unknown): void {
  if (!valid) throw new ValidationError(field, expected, JSON.stringify(received) ?? String(received));
}

function checkName(field: string, name: unknown): string {
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

function buildRun(spec: ContainerSpec, launch: LaunchStyle): { args: string[]; hash: string } {
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

function classifyPodmanFailure(failure: CommandFailure): CommandFailedError | undefined {
  if (/no such container|no container with name or ID/i.test(failure.stderr))
    return new ContainerMissingError(failure);
  return undefined;
}

function runPodman(args: readonly string[], options: RunOptions = {}) {
  return runCommand(podman(), args, { classifyFailure: classifyPodmanFailure, ...options });
}

async function withHostLimits(spec: ContainerSpec): Promise<ContainerSpec> {
  return spec.limits ? spec : { ...spec, limits: await containerLimits() };
}

interface InspectedContainer {
  status: string;
  exitCode: number | undefined;
  labels: Record<string, string>;
}

async function inspectContainer(name: string): Promise<InspectedContainer | undefined> {
  checkName('name', name);
  try {
    const { stdout } = await runPodman(['container', 'inspect', name]);
    const [details] = JSON.parse(stdout) as {
      State?: { Status?: string; ExitCode?: number };
      Config?: { Labels?: Record<string, string> | null };
    }[];
    return {
      status: details?.State?.Status ?? 'unknown',
      exitCode: details?.State?.ExitCode,
      labels: details?.Config?.Labels ?? {},
    };
  } catch (error) {
    if (error instanceof ContainerMissingError) return undefined;
    throw error;
  }
}

/** The container's state as Podman reports it ('running', 'exited', 'created', ...), or 'missing'. */
export async function containerState(name: string): Promise<ContainerState> {
  return (await inspectContainer(name))?.status ?? 'missing';
}

/**
 * Makes sure a container of the spec runs: nothing when it already runs, `podman start` when it
 * is stopped, `podman run` when it is missing, and a fresh container when the spec changed.
 */
export async function ensureContainerRunning(
  spec: ContainerSpec,
  logger: Logger,
): Promise<{ created: boolean; started: boolean }> {
  const { args, hash } = buildRun(await withHostLimits(spec), 'detached');
  const log = logger.child({ container: spec.name });
  let existing = await inspectContainer(spec.name);

  if (existing && existing.labels[configurationLabel] !== hash) {
    log.info('container does not match its spec: recreating it', { status: existing.status });
    await removeContainer(spec.name);
    existing = undefined;
  }

  if (!existing) {
    await runPodman(args, spec.environment ? { env: spec.environment } : {});
    log.info('container created', { status: 'running' });
    return { created: true, started: true };
  }
  if (existing.status === 'running') return { created: false, started: false };

  await runPodman([existing.status === 'paused' ? 'unpause' : 'start', spec.name]);
  log.info('container started', { previousStatus: existing.status });
  return { created: false, started: true };
}

/** Runs a one-shot container to its end and removes it; resolves with what it printed on stdout. */
export async function runToCompletion(spec: ContainerSpec, signal?: AbortSignal): Promise<string> {
  const args = buildRunArguments(await withHostLimits(spec), 'once');
  const options: RunOptions = {};
  if (signal) options.signal = signal;
  if (spec.environment) options.env = spec.environment;
  const { stdout } = await runPodman(args, options);
  return stdout;
}

async function lastLogLines(name: string): Promise<string> {
  try {
    const { stdout, stderr } = await runPodman(['logs', '--tail', '30', name]);
    return [stdout.trim(), stderr.trim()].filter(Boolean).join('\n');
  } catch (error) {
    return `(no logs: ${error instanceof Error ? error.message : String(error)})`;
  }
}

type HealthResult = { healthy: true } | { healthy: false; output: string };

async function runHealthCheck(name: string): Promise<HealthResult> {
  try {
    await runPodman(['healthcheck', 'run', name]);
    return { healthy: true };
  } catch (error) {
    if (error instanceof ContainerMissingError) throw error;
    const output = error instanceof CommandFailedError ? error.stderrTail || error.message : String(error);
    // A container without a health check counts as healthy while it runs.
    if (/no defined healthcheck|has no healthcheck/i.test(output)) return { healthy: true };
    return { healthy: false, output };
  }
}

export interface WaitUntilHealthyOptions {
  timeoutMilliseconds: number;
  signal?: AbortSignal;
  /** Called before each check, e.g. to heartbeat. */
  onAttempt?: (attempt: number) => void;
}

/**
 * Runs the container's health check until it passes. Fails at once, with the container's last
 * log lines, when the container stops; fails with the last check's output when time runs out.
 */
export async function waitUntilHealthy(name: string, options: WaitUntilHealthyOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMilliseconds;
  for (let attempt = 1; ; attempt += 1) {
    options.signal?.throwIfAborted();
    options.onAttempt?.(attempt);

    const state = await inspectContainer(name);
    if (!state) {
      throw new ContainerMissingError({
        command: podman(),
        args: ['container', 'inspect', name],
        stderr: `no such container ${name}`,
      });
    }
    if (exitedStates.has(state.status)) {
      const logs = await lastLogLines(name);
      throw new ContainerExitedError(
        { command: podman(), args: ['healthcheck', 'run', name], exitCode: state.exitCode, stderr: logs },
        `container ${name} is ${state.status} (exit code ${state.exitCode ?? 'unknown'}) ` +
          `instead of becoming healthy; its last log lines:\n${logs}`,
      );
    }

    const health = await runHealthCheck(name);
    if (health.healthy) return;
    if (Date.now() >= deadline) {
      throw new ContainerUnhealthyError(
        { command: podman(), args: ['healthcheck', 'run', name], stderr: health.output, timedOut: true },
        `container ${name} did not become healthy within ${options.timeoutMilliseconds} ms: ${health.output}`,
      );
    }
    await delay(Math.min(200 * attempt, 1_000), undefined, options.signal ? { signal: options.signal } : {});
  }
}

/** Stops the container, waiting timeoutSeconds before killing it; a missing or stopped one is fine. */
export async function stopContainer(name: string, options: { timeoutSeconds?: number } = {}): Promise<void> {
  checkName('name', name);
  try {
    await runPodman(['stop', '--time', String(options.timeoutSeconds ?? 30), name]);
  } catch (error) {
    if (!(error instanceof ContainerMissingError)) throw error;
  }
}

/** Stops (if needed) and removes the container; a missing one is fine. */
export async function removeContainer(
  name: string,
  options: { timeoutSeconds?: number } = {},
): Promise<void> {
  checkName('name', name);
  await runPodman(['rm', '--force', '--ignore', '--time', String(options.timeoutSeconds ?? 30), name]);
}

export interface ExecOptions {
  user?: string;
  /** Written to the command's stdin. */
  input?: string;
  signal?: AbortSignal;
  /** Passed by name on the command line and by value through Podman's environment. */
  environment?: Record<string, string>;
  /** Values redacted from error messages. */
  secrets?: readonly string[];
}

/** Runs a command in the running container; resolves with its stdout. */
export async function execInContainer(
  name: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<string> {
  checkName('name', name);
  const environmentNames = Object.keys(options.environment ?? {});
  const podmanArgs = [
    'exec',
    ...(options.input !== undefined ? ['--interactive'] : []),
    ...(options.user ? ['--user', options.user] : []),
    ...environmentNames.flatMap((variable) => ['--env', variable]),
    name,
    ...args,
  ];
  const runOptions: RunOptions = {};
  if (options.input !== undefined) runOptions.input = options.input;
  if (options.signal) runOptions.signal = options.signal;
  if (options.environment) runOptions.env = options.environment;
  if (options.secrets) runOptions.secrets = options.secrets;
  const { stdout } = await runPodman(podmanArgs, runOptions);
  return stdout;
}
