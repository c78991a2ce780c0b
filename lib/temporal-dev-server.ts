/**
 * The local Temporal dev server dbplane starts when no TEMPORAL_ADDRESS is given: started once,
 * recorded in <data root>/temporal/server.json, and reused for as long as it answers.
 */
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

import { CommandFailedError, ValidationError } from './errors.js';
import type { Logger } from './logger.js';
import { processExists } from './process.js';
import { spawnDetached, stopProcessGroup, waitUntil, withStartLock } from './temporal-dev-server-process.js';
import { searchAttributeNames } from './search-attributes.js';
import { prepareDevServer } from './temporal-namespace.js';
import type { TemporalServer } from './temporal-server.js';
import { toolPath } from './tools.js';

const loopback = '127.0.0.1';
const defaultGrpcPort = 7233;
const defaultUiPort = 8233;
const portsToTry = 100;
const logTailCharacters = 4_000;

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
 * Returns the dev server recorded under dataRoot if it still answers, else starts one and records
 * it. Holds a lock file meanwhile, so that processes sharing the data root start one server.
 */
export async function ensureDevServer(
  dataRoot: string,
  namespace: string,
  timeoutMilliseconds: number,
  logger: Logger,
): Promise<TemporalServer> {
  const files = serverFiles(dataRoot);
  await mkdir(files.directory, { recursive: true });
  return withStartLock(files.lockFile, timeoutMilliseconds, async () => {
    const reused = await reuseRecordedServer(files, namespace, timeoutMilliseconds, logger);
    if (reused) return reused;

    return startDevServer(files, namespace, timeoutMilliseconds, logger);
  });
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
  for (const name of searchAttributeNames) args.push('--search-attribute', `${name}=Keyword`);
  if (namespace !== 'default') args.push('--namespace', namespace);
  return args;
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
