/**
 * Containers on a host, run by Podman with runc. Every call is idempotent where it can be, and
 * Podman's failures become errors that say which container and what went wrong.
 */
import { setTimeout as delay } from 'node:timers/promises';

import { CommandFailedError, type CommandFailure } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { runCommand, type RunOptions } from '../../lib/process.js';
import { toolPath } from '../../lib/tools.js';
import {
  buildRun,
  buildRunArguments,
  checkName,
  configurationLabel,
  containerLimits,
  type ContainerSpec,
} from './container-arguments.js';

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

const exitedStates = new Set(['exited', 'stopped', 'dead', 'created', 'configured']);

function podman(): string {
  return toolPath('podman');
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
