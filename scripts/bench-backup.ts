/**
 * The backup benchmark: our backup path against bare restic, on the same directory, with the same
 * repository settings, in the same run. Each round gives both sides a fresh repository, so that
 * deduplication favours neither, and alternates which side goes first. It reports medians and never
 * judges them: the last stdout line is {"oursSeconds":..,"bareSeconds":..,"ratio":..}.
 *
 *   npm run bench:backup -- [--directory <path>] [--rounds 3] [--size-mib 300]
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';

import {
  backup,
  buildGlobalArguments,
  detectRestic,
  ensureRepository,
  type ResticRepository,
} from '../activities/host/restic.js';
import { ValidationError } from '../lib/errors.js';
import { createLogger } from '../lib/logger.js';
import { runCommand } from '../lib/process.js';

const mebibyte = 1024 * 1024;
const pageBytes = 8192;
const benchHost = 'bench';
const benchTags = ['module=bench', 'dbplane'];

/** One side of the comparison: backs up directory into a fresh, initialised repository. */
type BackupStep = (repository: ResticRepository, directory: string) => Promise<void>;

/** Our backup path. Replace this function to measure more of it, such as the whole backup workflow. */
const backupOurs: BackupStep = async (repository, directory) => {
  await backup(repository, { directory, tags: benchTags, host: benchHost, onProgress: () => undefined });
};

/** What an operator would type: restic backup with the same repository flags, host and tags. */
const backupBare: BackupStep = async (repository, directory) => {
  const tool = await detectRestic(repository);
  const tagArguments = benchTags.flatMap((tag) => ['--tag', tag]);
  await runCommand(
    tool.binary,
    [
      ...buildGlobalArguments(repository, tool.capabilities),
      'backup',
      '--host',
      benchHost,
      ...tagArguments,
      directory,
    ],
    { signal: repository.signal },
  );
};

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

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? 0)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

async function timeStep(step: BackupStep, repository: ResticRepository, directory: string): Promise<number> {
  const started = performance.now();
  await step(repository, directory);
  return (performance.now() - started) / 1000;
}

async function main(): Promise<void> {
  const options = readOptions(process.argv.slice(2));
  const logger = createLogger('bench-backup');
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const root = await mkdtemp(path.join(tmpdir(), 'dbplane-bench-'));

  try {
    const passwordFile = path.join(root, 'password');
    await writeFile(passwordFile, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
    const repositoryFor = (side: string, round: number): ResticRepository => ({
      repository: path.join(root, `repository-${side}-${round}`),
      passwordFile,
      cacheDirectory: path.join(root, `cache-${side}-${round}`),
      logger,
      signal: controller.signal,
    });

    const tool = await detectRestic({ logger });
    console.log(`restic: ${tool.binary} (${tool.version.text})`);

    let directory = options.directory;
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
    console.log(`${options.rounds} rounds, fresh repositories each round, alternating which side goes first`);

    const sides = { ours: backupOurs, bare: backupBare };
    const timings: Record<keyof typeof sides, number[]> = { ours: [], bare: [] };
    for (let round = 1; round <= options.rounds; round++) {
      const order: (keyof typeof sides)[] = round % 2 === 1 ? ['ours', 'bare'] : ['bare', 'ours'];
      const line: string[] = [];
      for (const side of order) {
        const repository = repositoryFor(side, round);
        await ensureRepository(repository);
        const seconds = await timeStep(sides[side], repository, directory);
        timings[side].push(seconds);
        line.push(`${side} ${seconds.toFixed(2)} s`);
        await rm(repository.repository, { recursive: true, force: true });
        await rm(repository.cacheDirectory, { recursive: true, force: true });
      }
      console.log(`round ${round}: ${line.join(', ')}`);
    }

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
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
