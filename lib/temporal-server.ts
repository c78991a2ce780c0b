/**
 * The Temporal server dbplane talks to: the one TEMPORAL_ADDRESS names, or a local dev server that
 * dbplane starts once, records under the data root, and reuses for as long as it answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

import { Connection } from '@temporalio/client';

import { CommandFailedError, ValidationError, whileDoing } from './errors.js';
import type { Logger } from './logger.js';
import { toolPath } from './tools.js';

/** The search attributes dbplane's workflows set; all of type Keyword. */
export const dbplaneSearchAttributeNames = ['DbplaneModule', 'DbplaneHost', 'DbplaneOperation'] as const;

// temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD; the proto package is not ours to import.
const keywordIndexedValueType = 2;

const loopback = '127.0.0.1';
const defaultGrpcPort = 7233;
const defaultUiPort = 8233;
const portsToTry = 100;
const probeTimeoutMilliseconds = 3_000;
const reachableTimeoutMilliseconds = 5_000;
const pollMilliseconds = 250;
const stopGraceMilliseconds = 10_000;
const logTailCharacters = 4_000;

export interface TemporalServerOptions {
  /** The data root; the dev server's database, log and record live in its temporal/ folder. */
  dataRoot: string;
  /** An existing server (TEMPORAL_ADDRESS). When given, nothing is started. */
  address?: string | undefined;
  /** The namespace that must exist and carry dbplane's search attributes; 'default' if not given. */
  namespace?: string | undefined;
  logger: Logger;
  /** How long a starting dev server may take to answer; 90 seconds if not given. */
  startTimeoutMilliseconds?: number | undefined;
}

export interface TemporalServer {
  address: string;
  uiUrl?: string | undefined;
  /** True when this call started the server, and so stop() will stop it. */
  started: boolean;
  /** Stops the dev server if this call started it; does nothing otherwise. */
  stop(): Promise<void>;
}

/** What server.json records about a dev server dbplane started. */
interface ServerRecord {
  pid: number;
  address: string;
  uiUrl: string;
  databaseFile: string;
  startedAt: string;
}

interface ServerFiles {
  directory: string;
  databaseFile: string;
  logFile: string;
  recordFile: string;
  lockFile: string;
}

/**
 * Returns a reachable Temporal server: the given address after checking that it answers, else a dev
 * server dbplane started earlier under dataRoot if it still answers, else a newly started one.
 */
export async function ensureTemporalServer(options: TemporalServerOptions): Promise<TemporalServer> {
  const namespace = options.namespace ?? 'default';
  const logger = options.logger.child({ namespace });

  if (options.address) {
    await checkReachable(options.address, namespace, logger);
    logger.info('using the Temporal server from TEMPORAL_ADDRESS', { address: options.address });
    return { address: options.address, started: false, stop: async () => {} };
  }

  const files = serverFiles(options.dataRoot);
  await mkdir(files.directory, { recursive: true });
  const timeout = options.startTimeoutMilliseconds ?? 90_000;
  return withStartLock(files.lockFile, timeout, async () => {
    const reused = await reuseRecordedServer(files, namespace, timeout, logger);
    if (reused) return reused;

    return startDevServer(files, namespace, timeout, logger);
  });
}

/** Adds whichever of dbplane's search attributes the namespace lacks; returns the names it added. */
export async function registerSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const listed = await connection.operatorService.listSearchAttributes({ namespace });
  const existing = listed.customAttributes ?? {};
  const missing: Record<string, number> = {};
  for (const name of dbplaneSearchAttributeNames) {
    const type = existing[name];
    if (type === undefined) {
      missing[name] = keywordIndexedValueType;
    } else if (type !== keywordIndexedValueType) {
      throw new ValidationError(
        `search attribute ${name} in namespace ${namespace}`,
        'type Keyword',
        `indexed value type ${type}`,
      );
    }
  }
  const names = Object.keys(missing);
  if (names.length === 0) return [];

  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  } catch (error) {
    // Another process may have added them between our list and our add; only a real gap is an error.
    const again = await connection.operatorService.listSearchAttributes({ namespace });
    if (names.some((name) => again.customAttributes?.[name] === undefined)) throw error;
  }
  return names;
}

function serverFiles(dataRoot: string): ServerFiles {
  const directory = path.join(path.resolve(dataRoot), 'temporal');
  return {
    directory,
    databaseFile: path.join(directory, 'temporal.db'),
    logFile: path.join(directory, 'server.log'),
    recordFile: path.join(directory, 'server.json'),
    lockFile: path.join(directory, 'start.lock'),
  };
}

/** Connects with a bounded wait, or returns undefined if nothing answers at address in time. */
async function tryConnect(address: string, timeoutMilliseconds: number): Promise<Connection | undefined> {
  try {
    // connect() already waits for the channel and calls getSystemInfo within connectTimeout.
    return await Connection.connect({ address, connectTimeout: timeoutMilliseconds });
  } catch {
    return undefined;
  }
}

async function checkReachable(address: string, namespace: string, logger: Logger): Promise<void> {
  const connection = await tryConnect(address, reachableTimeoutMilliseconds);
  if (!connection) {
    throw new ValidationError(
      'TEMPORAL_ADDRESS',
      `the address of a Temporal server that answers within ${reachableTimeoutMilliseconds / 1000} s`,
      JSON.stringify(address),
    );
  }

  try {
    await describeNamespace(connection, namespace);
    await warnAboutMissingSearchAttributes(connection, namespace, logger);
  } finally {
    await connection.close();
  }
}

/** A server we did not start is not ours to change; say what is missing and how to add it. */
async function warnAboutMissingSearchAttributes(connection: Connection, namespace: string, logger: Logger) {
  let existing: Record<string, unknown>;
  try {
    const listed = await connection.withDeadline(Date.now() + probeTimeoutMilliseconds, () =>
      connection.operatorService.listSearchAttributes({ namespace }),
    );
    existing = listed.customAttributes ?? {};
  } catch (error) {
    logger.debug('could not list search attributes', { error });
    return;
  }

  const missing = dbplaneSearchAttributeNames.filter((name) => existing[name] === undefined);
  if (missing.length === 0) return;

  logger.warn('the Temporal namespace lacks dbplane search attributes; workflows that set them will fail', {
    missing,
    fix:
      'run deploy/temporal/setup-namespace.sh, or for each name: temporal operator search-attribute ' +
      `create --namespace ${namespace} --name <name> --type Keyword`,
  });
}

async function describeNamespace(connection: Connection, namespace: string): Promise<void> {
  try {
    await connection.withDeadline(Date.now() + probeTimeoutMilliseconds, () =>
      connection.workflowService.describeNamespace({ namespace }),
    );
  } catch (error) {
    throw whileDoing(`looking up Temporal namespace ${namespace} (TEMPORAL_NAMESPACE)`, error);
  }
}

/** Connects to a dev server, checks its namespace and search attributes, and closes again. */
async function prepareDevServer(address: string, namespace: string, logger: Logger): Promise<boolean> {
  const connection = await tryConnect(address, probeTimeoutMilliseconds);
  if (!connection) return false;

  try {
    await describeNamespace(connection, namespace);
    const added = await registerSearchAttributes(connection, namespace);
    if (added.length > 0) logger.info('registered search attributes', { address, added });
    return true;
  } finally {
    await connection.close();
  }
}

async function reuseRecordedServer(
  files: ServerFiles,
  namespace: string,
  timeoutMilliseconds: number,
  logger: Logger,
): Promise<TemporalServer | undefined> {
  const record = await readRecord(files.recordFile);
  if (!record) return undefined;

  if (!isRecordedServerProcess(record)) {
    logger.info('the recorded Temporal dev server is gone; starting another', { pid: record.pid });
    await rm(files.recordFile, { force: true });
    return undefined;
  }

  const answered = await waitUntil(timeoutMilliseconds, () =>
    prepareDevServer(record.address, namespace, logger),
  );
  if (!answered) {
    logger.warn('the recorded Temporal dev server does not answer; replacing it', {
      pid: record.pid,
      address: record.address,
    });
    await stopProcessGroup(record.pid);
    await rm(files.recordFile, { force: true });
    return undefined;
  }

  logger.info('reusing the Temporal dev server', { address: record.address, pid: record.pid });
  return { address: record.address, uiUrl: record.uiUrl, started: false, stop: async () => {} };
}

async function startDevServer(
  files: ServerFiles,
  namespace: string,
  timeoutMilliseconds: number,
  logger: Logger,
): Promise<TemporalServer> {
  const grpcPort = await findFreePort(defaultGrpcPort, []);
  const uiPort = await findFreePort(defaultUiPort, [grpcPort]);
  const address = `${loopback}:${grpcPort}`;
  const uiUrl = `http://${loopback}:${uiPort}`;
  const executable = toolPath('temporal');
  const args = devServerArguments(files.databaseFile, grpcPort, uiPort, namespace);

  logger.info('starting a Temporal dev server', { address, uiUrl, log: files.logFile });
  const logOffset = await fileSize(files.logFile);
  const child = await spawnDetached(executable, args, files.logFile);
  const pid = child.pid as number;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.once('exit', (code, signal) => (exit = { code, signal }));

  const started = Date.now();
  const answered = await waitUntil(timeoutMilliseconds, async () => {
    if (exit) throw await startFailure(executable, args, files.logFile, logOffset, exit);
    return prepareDevServer(address, namespace, logger);
  });
  if (!answered) {
    await stopProcessGroup(pid);
    throw new CommandFailedError({
      command: executable,
      args,
      stderr: await readLogTail(files.logFile, logOffset),
      timedOut: true,
    });
  }

  const record: ServerRecord = {
    pid,
    address,
    uiUrl,
    databaseFile: files.databaseFile,
    startedAt: new Date().toISOString(),
  };
  await writeFile(files.recordFile, `${JSON.stringify(record, null, 2)}\n`);
  logger.info('Temporal dev server is up', { address, uiUrl, pid, milliseconds: Date.now() - started });

  const stop = async () => {
    await stopProcessGroup(pid);
    const current = await readRecord(files.recordFile);
    if (current?.pid === pid) await rm(files.recordFile, { force: true });
    logger.info('stopped the Temporal dev server', { address, pid });
  };
  return { address, uiUrl, started: true, stop };
}

function devServerArguments(databaseFile: string, grpcPort: number, uiPort: number, namespace: string) {
  const args = [
    'server',
    'start-dev',
    '--ip',
    loopback,
    '--port',
    String(grpcPort),
    '--ui-port',
    String(uiPort),
    '--ui-disable-news-fetch',
    '--db-filename',
    databaseFile,
    '--log-format',
    'json',
    '--log-level',
    'warn',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecution=true',
  ];
  for (const name of dbplaneSearchAttributeNames) args.push('--search-attribute', `${name}=Keyword`);
  if (namespace !== 'default') args.push('--namespace', namespace);
  return args;
}

/**
 * Starts the server in its own session with its output in the log file. runCommand cannot do this:
 * it waits for the command to end, and this server must outlive the process that starts it.
 */
async function spawnDetached(executable: string, args: string[], logFile: string): Promise<ChildProcess> {
  const log = await open(logFile, 'a');
  try {
    const child = spawn(executable, args, { detached: true, stdio: ['ignore', log.fd, log.fd] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error: NodeJS.ErrnoException) => {
        const hint = error.code === 'ENOENT' ? ' (run `bash scripts/bootstrap.sh` to install it)' : '';
        reject(new CommandFailedError({ command: executable, args, stderr: `${error.message}${hint}` }));
      });
    });
    child.unref();
    return child;
  } finally {
    await log.close();
  }
}

async function startFailure(
  executable: string,
  args: string[],
  logFile: string,
  logOffset: number,
  exit: { code: number | null; signal: NodeJS.Signals | null },
): Promise<CommandFailedError> {
  return new CommandFailedError({
    command: executable,
    args,
    exitCode: exit.code ?? undefined,
    signal: exit.signal ?? undefined,
    stderr: await readLogTail(logFile, logOffset),
  });
}

/** Calls check until it returns true, the time is up (false), or it throws. */
async function waitUntil(timeoutMilliseconds: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + timeoutMilliseconds;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, pollMilliseconds));
  }
}

async function findFreePort(first: number, taken: number[]): Promise<number> {
  for (let port = first; port < first + portsToTry; port += 1) {
    if (!taken.includes(port) && (await isPortFree(port))) return port;
  }
  throw new ValidationError(
    'Temporal dev server port',
    `a free port on ${loopback} from ${first} to ${first + portsToTry - 1}`,
    'all of them in use',
  );
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: loopback, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True if pid is still the temporal process that uses the recorded database, not a reused pid. */
function isRecordedServerProcess(record: ServerRecord): boolean {
  if (!processExists(record.pid)) return false;

  try {
    const commandLine = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').split('\0');
    return commandLine.includes('start-dev') && commandLine.includes(record.databaseFile);
  } catch {
    return false;
  }
}

/**
 * Sends SIGTERM to the process group, then SIGKILL if the server has not ended after a grace period.
 * Node reaps its own children, so a server this process started also stops existing once it exits.
 */
async function stopProcessGroup(pid: number): Promise<void> {
  signalGroup(pid, 'SIGTERM');
  const gone = await waitUntil(stopGraceMilliseconds, async () => !processExists(pid));
  if (gone) return;

  signalGroup(pid, 'SIGKILL');
  await waitUntil(stopGraceMilliseconds, async () => !processExists(pid));
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/**
 * Runs start while holding an exclusive lock file, so two processes sharing a data root do not both
 * start a server on the same database. A lock left by a process that died is taken over.
 */
async function withStartLock<T>(lockFile: string, timeoutMilliseconds: number, start: () => Promise<T>) {
  const acquired = await waitUntil(timeoutMilliseconds, async () => {
    try {
      await writeFile(lockFile, String(process.pid), { flag: 'wx' });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number(await readFile(lockFile, 'utf8').catch(() => ''));
    if (!Number.isInteger(holder) || holder <= 0 || !processExists(holder)) {
      await rm(lockFile, { force: true });
    }
    return false;
  });
  if (!acquired) {
    throw new ValidationError(
      lockFile,
      'no other dbplane process starting a Temporal dev server',
      `a lock held for over ${timeoutMilliseconds / 1000} s`,
    );
  }

  try {
    return await start();
  } finally {
    await rm(lockFile, { force: true });
  }
}

async function readRecord(recordFile: string): Promise<ServerRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(recordFile, 'utf8')) as Partial<ServerRecord>;
    if (typeof record.pid !== 'number' || typeof record.address !== 'string') return undefined;
    if (typeof record.databaseFile !== 'string') return undefined;
    return record as ServerRecord;
  } catch {
    return undefined;
  }
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/** The end of what the server wrote to its log since offset. */
async function readLogTail(logFile: string, offset: number): Promise<string> {
  try {
    const text = (await readFile(logFile)).subarray(offset).toString('utf8');
    return text.slice(-logTailCharacters);
  } catch {
    return '';
  }
}
