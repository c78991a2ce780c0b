/**
 * The backup benchmark: our backup path against bare restic, on the same directory, with the same
 * repository settings, in the same run. Ours is the path a scheduled backup takes: a Temporal workflow
 * dispatches the host activity backupSnapshot, which runs the restic driver with JSON progress and
 * heartbeats. The benchmark starts its own Temporal dev server and an in-process worker for this, under
 * a temporary root it removes again. Each round gives both sides a fresh repository, so that
 * deduplication favours neither, and alternates which side goes first. It reports medians and never
 * judges them: the last stdout line is {"oursSeconds":..,"bareSeconds":..,"ratio":..}.
 *
 *   npm run bench:backup -- [--directory <path>] [--rounds 3] [--size-mib 300]
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';

import { backupSnapshot } from '../activities/host/backup.js';
import { moduleRepository, moduleTags } from '../activities/host/repository.js';
import { ensureRepository, type ResticRepository } from '../activities/host/restic.js';
import { buildGlobalArguments } from '../activities/host/restic-arguments.js';
import { detectRestic } from '../activities/host/restic-version.js';
import { ValidationError } from '../lib/errors.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { runCommand } from '../lib/process.js';
import { ensureSecrets } from '../lib/secrets.js';
import { validateSpec } from '../lib/spec/load.js';
import { planModule, type ModulePlan } from '../lib/spec/plan.js';
import { ensureTemporalServer } from '../lib/temporal-server.js';
import type { benchStoreSnapshot } from './bench-workflow.js';

const mebibyte = 1024 * 1024;
const pageBytes = 8192;
const benchModule = 'usersdb';
const benchHost = 'bench';
const workflowsPath = fileURLToPath(new URL('./bench-workflow.js', import.meta.url));

/** What one side did in a round, beyond the wall-clock time the benchmark takes itself. */
interface StepReport {
  /** restic's own duration, where the side learns it. */
  resticSeconds?: number;
}

/** One side of the comparison: backs up directory into the plan's fresh, initialised repository. */
type BackupStep = (plan: ModulePlan, directory: string, snapshotName: string) => Promise<StepReport>;

/** The tags the driver gives a snapshot of a module. */
function snapshotTags(plan: ModulePlan, snapshotName: string): string[] {
  return [...moduleTags(plan), `snapshot=${snapshotName}`];
}

/**
 * Our backup path: a workflow on the bench task queue whose one activity, backupSnapshot, runs on
 * the in-process worker. Timed from the workflow's start to its result.
 */
function oursThroughTemporal(client: Client, signal: AbortSignal): BackupStep {
  return async (plan, directory, snapshotName) => {
    const workflowId = `bench-backup-${snapshotName}-${randomBytes(4).toString('hex')}`;
    try {
      // An interrupt cancels the wait for the result; the worker's shutdown then cancels the activity.
      const stored = await client.withAbortSignal(signal, () =>
        client.workflow.execute<typeof benchStoreSnapshot>('benchStoreSnapshot', {
          taskQueue: plan.taskQueue,
          workflowId,
          args: [plan, directory, snapshotName],
        }),
      );
      return { resticSeconds: stored.seconds };
    } catch (error) {
      signal.throwIfAborted();
      throw error;
    }
  };
}

/**
 * What an operator would type: restic backup with the same repository flags, host and tags, run
 * like the driver runs it (from the directory's parent, given the directory's name), so that both
 * sides store the same tree.
 */
function bareRestic(logger: Logger, signal: AbortSignal): BackupStep {
  return async (plan, directory, snapshotName) => {
    const repository = moduleRepository(plan, logger);
    const tool = await detectRestic(repository);
    const tagArguments = snapshotTags(plan, snapshotName).flatMap((tag) => ['--tag', tag]);
    await runCommand(
      tool.binary,
      [
        ...buildGlobalArguments(repository, tool.capabilities),
        'backup',
        '--host',
        plan.host,
        ...tagArguments,
        '--',
        path.basename(directory),
      ],
      { cwd: path.dirname(directory), signal },
    );
    return {};
  };
}

interface Options {
  directory: string | undefined;
  rounds: number;
  sizeMebibytes: number;
}

function readOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      directory: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      'size-mib': { type: 'string', default: '300' },
    },
  });
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new ValidationError('--rounds', 'a whole number of at least 1', JSON.stringify(values.rounds));
  }
  const sizeMebibytes = Number(values['size-mib']);
  if (!Number.isInteger(sizeMebibytes) || sizeMebibytes < 16) {
    throw new ValidationError(
      '--size-mib',
      'a whole number of at least 16',
      JSON.stringify(values['size-mib']),
    );
  }
  return { directory: values.directory ? path.resolve(values.directory) : undefined, rounds, sizeMebibytes };
}

/**
 * The plan of a one-module spec whose data root is root and whose host serves taskQueue: the plan
 * backupModule would hand backupSnapshot, with its repository and secrets under root.
 */
function benchPlan(root: string, taskQueue: string): ModulePlan {
  const spec = validateSpec(
    {
      apiVersion: 'dbplane/v1',
      dataRoot: root,
      hosts: [{ name: benchHost, taskQueue }],
      modules: {
        [benchModule]: {
          engine: 'postgresql',
          version: '15',
          host: benchHost,
          image: 'docker.io/library/postgres:15',
          port: 55432,
          volumes: { data: { size: '1GiB' } },
          backup: {},
        },
      },
    },
    'the benchmark spec',
  );
  return planModule(spec, root, benchModule);
}

/** The plan with its own repository, so that a round starts from an empty one. */
function withRepository(plan: ModulePlan, repository: string): ModulePlan {
  return {
    ...plan,
    backup: plan.backup ? { ...plan.backup, repository } : undefined,
    paths: { ...plan.paths, repository },
  };
}

/** A page of table rows: compresses well, yet differs from every other page. */
function rowPage(pageNumber: number): Buffer {
  const page = Buffer.alloc(pageBytes);
  let offset = 24;
  for (let row = 0; offset < pageBytes - 96; row++) {
    const id = pageNumber * 64 + row;
    offset += page.write(`${id}|user${id}|user${id}@example.org|2026-03-${(id % 28) + 1}|active;`, offset);
  }
  page.writeUInt32LE(pageNumber, 0);
  return page;
}

/** A relation-segment-like file: runs of row pages with random (incompressible) pages mixed in. */
async function writeSegment(file: string, bytes: number, firstPage: number): Promise<void> {
  const pages: Buffer[] = [];
  for (let page = 0; page < bytes / pageBytes; page++) {
    const pageNumber = firstPage + page;
    pages.push(pageNumber % 5 < 2 ? randomBytes(pageBytes) : rowPage(pageNumber));
  }
  // Synced, so that write-back of the generated data does not run during the first timed round.
  const handle = await open(file, 'w');
  try {
    await handle.writeFile(Buffer.concat(pages));
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Reads every file once, so that neither side pays for the first read from disk. */
async function warmPageCache(directory: string): Promise<number> {
  let bytes = 0;
  const sink = () =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        done();
      },
    });
  for (const entry of await readdir(directory, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) await pipeline(createReadStream(path.join(entry.parentPath, entry.name)), sink());
  }
  return bytes;
}

/**
 * Writes a directory shaped like a PostgreSQL data directory: a few large segments, WAL files and
 * many small catalog-like files, about sizeMebibytes in all.
 */
async function generateDatabaseLikeDirectory(directory: string, sizeMebibytes: number): Promise<void> {
  const relations = path.join(directory, 'base', '16384');
  const wal = path.join(directory, 'pg_wal');
  await mkdir(relations, { recursive: true });
  await mkdir(wal, { recursive: true });

  const segmentBytes = Math.floor((sizeMebibytes * 0.64) / 3) * mebibyte;
  for (let segment = 0; segment < 3; segment++) {
    const name = segment === 0 ? '16385' : `16385.${segment}`;
    await writeSegment(path.join(relations, name), segmentBytes, segment * (segmentBytes / pageBytes));
  }

  const walFiles = Math.max(1, Math.round((sizeMebibytes * 0.22) / 16));
  for (let index = 0; index < walFiles; index++) {
    const name = `0000000100000000000000${index.toString(16).toUpperCase().padStart(2, '0')}`;
    await writeSegment(path.join(wal, name), 16 * mebibyte, 1_000_000 + index * 2048);
  }

  let smallBytes = sizeMebibytes * mebibyte - 3 * segmentBytes - walFiles * 16 * mebibyte;
  for (let relation = 20_000; smallBytes > 0; relation++) {
    const bytes = pageBytes * (1 + (relation % 6));
    await writeSegment(path.join(relations, String(relation)), bytes, relation * 8);
    smallBytes -= bytes;
  }
  await writeFile(path.join(directory, 'PG_VERSION'), '15\n');
}

async function isDirectory(candidate: string): Promise<boolean> {
  try {
    return (await stat(candidate)).isDirectory();
  } catch {
    return false;
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? 0)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** Sends the SDK's own log lines, warnings and worse, through our logger; leaves signals to us. */
function installQuietRuntime(logger: Logger): void {
  Runtime.install({
    // Without forward, the SDK's native part writes its lines to stdout, after our last line.
    telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} } },
    logger: new DefaultLogger('WARN', (entry) => {
      const fields = { ...(entry.meta ?? {}) };
      if (entry.level === 'ERROR') logger.error(entry.message, fields);
      else logger.warn(entry.message, fields);
    }),
    shutdownSignals: [],
  });
}

type Side = 'ours' | 'bare';

interface BenchInput {
  root: string;
  plan: ModulePlan;
  directory: string;
  rounds: number;
  logger: Logger;
  signal: AbortSignal;
}

interface RoundsInput extends BenchInput {
  sides: Record<Side, BackupStep>;
}

/** Runs the rounds and returns each side's wall-clock seconds, round by round. */
async function runRounds(input: RoundsInput): Promise<Record<Side, number[]>> {
  const timings: Record<Side, number[]> = { ours: [], bare: [] };
  for (let round = 1; round <= input.rounds; round++) {
    const order: Side[] = round % 2 === 1 ? ['ours', 'bare'] : ['bare', 'ours'];
    const line: string[] = [];
    for (const side of order) {
      input.signal.throwIfAborted();
      const plan = withRepository(input.plan, path.join(input.root, 'repositories', `${side}-${round}`));
      const repository: ResticRepository = { ...moduleRepository(plan, input.logger), signal: input.signal };
      await ensureRepository(repository);

      const started = performance.now();
      const report = await input.sides[side](plan, input.directory, `round-${round}`);
      const seconds = (performance.now() - started) / 1000;
      timings[side].push(seconds);
      const inside =
        report.resticSeconds === undefined ? '' : ` (restic reports ${report.resticSeconds.toFixed(2)} s)`;
      line.push(`${side} ${seconds.toFixed(2)} s${inside}`);

      await rm(repository.repository, { recursive: true, force: true });
      await rm(repository.cacheDirectory, { recursive: true, force: true });
    }
    console.log(`round ${round}: ${line.join(', ')}`);
  }
  return timings;
}

/** Turns the first SIGINT or SIGTERM into an abort; returns a function that stops listening. */
function abortOnSignals(controller: AbortController, logger: Logger): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      logger.warn('still cleaning up: stopping restic, the worker and the Temporal dev server', { signal });
      return;
    }
    process.exitCode = 130;
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

/**
 * Starts a Temporal dev server under the root and a worker for the plan's task queue, runs the
 * rounds while the worker runs, and stops both again, whether the rounds succeed or not.
 */
async function runWithTemporal(input: BenchInput): Promise<Record<Side, number[]>> {
  const { root, plan, logger, signal } = input;
  installQuietRuntime(logger);
  const server = await ensureTemporalServer({ dataRoot: root, logger });
  try {
    signal.throwIfAborted();
    const workerConnection = await NativeConnection.connect({ address: server.address });
    try {
      const clientConnection = await Connection.connect({ address: server.address });
      try {
        console.log(
          'ours: Temporal workflow benchStoreSnapshot -> host activity backupSnapshot -> restic driver ' +
            '(restic backup --json, progress as heartbeats); ' +
            `worker in this process, dev server ${server.address}`,
        );
        console.log('bare: restic backup with the same repository flags, host, tags and directory argument');
        console.log(
          `${input.rounds} rounds, fresh repositories each round, alternating which side goes first`,
        );

        // Nothing may fail between creating the worker and running it: a worker that never ran keeps
        // its connection, and this process, alive.
        const worker = await Worker.create({
          connection: workerConnection,
          taskQueue: plan.taskQueue,
          workflowsPath,
          activities: { backupSnapshot },
        });
        const sides: Record<Side, BackupStep> = {
          ours: oursThroughTemporal(new Client({ connection: clientConnection }), signal),
          bare: bareRestic(logger, signal),
        };
        return await worker.runUntil(runRounds({ ...input, sides }));
      } finally {
        await clientConnection.close();
      }
    } finally {
      await workerConnection.close();
    }
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const options = readOptions(process.argv.slice(2));
  const logger = createLogger('bench-backup');
  const controller = new AbortController();
  const signal = controller.signal;
  const stopListening = abortOnSignals(controller, logger);
  // The benchmark's module lives under its own temporary root, whatever data root the shell names.
  delete process.env.DBPLANE_DATA_ROOT;
  const root = await mkdtemp(path.join(tmpdir(), 'dbplane-bench-'));

  try {
    const plan = benchPlan(root, `dbplane-bench-${randomBytes(4).toString('hex')}`);
    await ensureSecrets(plan.paths.secretsDirectory);
    const tool = await detectRestic({ logger });
    console.log(`restic: ${tool.binary} (${tool.version.text})`);

    let directory = options.directory;
    if (directory && !(await isDirectory(directory))) {
      throw new ValidationError('--directory', 'an existing directory', JSON.stringify(directory));
    }
    if (!directory) {
      directory = path.join(root, 'pgdata');
      const started = performance.now();
      await generateDatabaseLikeDirectory(directory, options.sizeMebibytes);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      console.log(`generated ${options.sizeMebibytes} MiB database-like directory in ${seconds} s`);
    }
    const bytes = await warmPageCache(directory);
    console.log(
      `directory: ${directory} (${(bytes / mebibyte).toFixed(0)} MiB, read once to warm the cache)`,
    );
    signal.throwIfAborted();

    const timings = await runWithTemporal({ root, plan, directory, rounds: options.rounds, logger, signal });
    const oursSeconds = median(timings.ours);
    const bareSeconds = median(timings.bare);
    const ratio = oursSeconds / bareSeconds;
    console.log(`median: ours ${oursSeconds.toFixed(2)} s, bare ${bareSeconds.toFixed(2)} s`);
    console.log(
      JSON.stringify({
        oursSeconds: Number(oursSeconds.toFixed(3)),
        bareSeconds: Number(bareSeconds.toFixed(3)),
        ratio: Number(ratio.toFixed(3)),
      }),
    );
  } catch (error) {
    // What an interrupt cut short fails in its own words; the interrupt is what happened.
    signal.throwIfAborted();
    throw error;
  } finally {
    await rm(root, { recursive: true, force: true });
    stopListening();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  if (!process.exitCode) process.exitCode = 1;
});
