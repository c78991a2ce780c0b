/**
 * Volumes on real XFS, as root: loop mounts, reflinks, freezes and their watchdog, disk full.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, statfs, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FreezeWindowExceededError, freezeFilesystem, thawIfFrozen } from '../../activities/host/freeze.js';
import { copyImageFile, mountImageReadWrite, unmountPath } from '../../activities/host/mount-images.js';
import { filesystemType, isMountPoint, mountEntryAt } from '../../activities/host/mount-table.js';
import {
  ensureVolume,
  removeVolume,
  type VolumePlan,
  type VolumeState,
} from '../../activities/host/volume-driver.js';
import { DiskFullError, ValidationError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { runCommand } from '../../lib/process.js';
import { waitFor } from '../support/processes.js';

const projectRoot = path.resolve(import.meta.dirname, '..', '..');
const builtFreeze = path.join(projectRoot, 'dist', 'activities', 'host', 'freeze.js');
const mebibyte = 1024 * 1024;

interface CapturedLogger extends Logger {
  warnings: string[];
}

function capturingLogger(): CapturedLogger {
  const warnings: string[] = [];
  const logger: CapturedLogger = {
    warnings,
    debug: () => undefined,
    info: () => undefined,
    warn: (message, fields) => warnings.push(`${message} ${JSON.stringify(fields ?? {})}`),
    error: () => undefined,
    child: () => logger,
  };
  return logger;
}

let root: string;

function volumePlan(name: string, volume: Partial<VolumePlan['volume']> = {}): VolumePlan {
  return {
    paths: {
      volumeImage: path.join(root, 'images', `${name}.xfs`),
      mountPoint: path.join(root, 'volumes', name),
    },
    volume: {
      sizeBytes: 300 * mebibyte,
      mode: 'loop',
      mountOptions: ['noatime', 'largeio', 'inode64', 'allocsize=16m'],
      reflink: true,
      ...volume,
    },
  };
}

/** Compiled files of the source files that the freeze child and the watchdog run from dist/. */
const compiledPairs = ['freeze', 'thaw-watchdog', 'volume-driver'].map((name) => ({
  source: path.join(projectRoot, 'activities', 'host', `${name}.ts`),
  built: path.join(projectRoot, 'dist', 'activities', 'host', `${name}.js`),
}));

function isBuilt(): boolean {
  return compiledPairs.every(
    ({ source, built }) => existsSync(built) && statSync(built).mtimeMs >= statSync(source).mtimeMs,
  );
}

/** Builds the project when dist/ is missing or older than the sources the test runs compiled. */
async function ensureBuilt(): Promise<void> {
  if (isBuilt()) return;
  // Files others are editing may not type-check yet; tsc still writes the output.
  await runCommand('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: projectRoot }).catch(() => undefined);
  if (!isBuilt()) throw new Error(`npm run build did not bring ${path.dirname(builtFreeze)} up to date`);
}

/** The scheduler state of a process ('R', 'S', 'D', 'Z'), or undefined once it is gone. */
function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Starts creating a file: on a frozen filesystem the process blocks until the thaw. */
function startWriter(file: string): ChildProcess {
  // spawn, not runCommand: the test needs the pid to see the writer blocked in the kernel.
  return spawn('touch', [file], { stdio: 'ignore' });
}

async function expectBlocked(writer: ChildProcess): Promise<void> {
  const pid = writer.pid ?? 0;
  await waitFor('the writer to block on the frozen filesystem', () => processState(pid) === 'D', 5_000);
  expect(writer.exitCode).toBeNull();
}

async function loopDevicesOf(image: string): Promise<string> {
  return (await runCommand('losetup', ['--associated', image])).stdout.trim();
}

beforeAll(async () => {
  root = await mkdtemp('/tmp/dbplane-test-volume-');
  await ensureBuilt();
});

afterAll(async () => {
  if (!root) return;
  // Every step runs even when an earlier one fails, so that one failure leaves nothing else behind.
  const problems: unknown[] = [];
  const attempt = (step: Promise<unknown>) => step.catch((error: unknown) => problems.push(error));
  for (const name of ['main', 'interrupted']) {
    await attempt(thawIfFrozen(path.join(root, 'volumes', name)));
  }
  await attempt(unmountPath(path.join(root, 'snapshot')));
  for (const name of ['main', 'interrupted', 'fallback', 'strict', 'plain']) {
    await attempt(removeVolume(volumePlan(name), capturingLogger()));
  }
  await attempt(rm(root, { recursive: true, force: true }));
  if (problems.length > 0) throw problems[0];
});

describe('a loop-mounted XFS volume', () => {
  const plan = () => volumePlan('main');
  let state: VolumeState;

  // Made once for the whole group, so that each test can also run on its own (vitest -t).
  beforeAll(async () => {
    state = await ensureVolume(plan(), capturingLogger());
  });

  it('is created, formatted and mounted with the configured options', async () => {
    expect(state).toEqual({
      mode: 'xfs',
      mountPoint: plan().paths.mountPoint,
      image: plan().paths.volumeImage,
      created: true,
    });
    expect(await filesystemType(state.mountPoint)).toBe('xfs');
    const entry = await mountEntryAt(state.mountPoint);
    expect(entry?.mountOptions).toContain('noatime');
    expect(entry?.superOptions).toEqual(expect.arrayContaining(['largeio', 'inode64', 'allocsize=16384k']));
    expect(statSync(plan().paths.volumeImage).blocks * 512).toBeLessThan(100 * mebibyte);
  });

  it('shares blocks between a file and its reflink copy', async () => {
    const source = path.join(plan().paths.mountPoint, 'reflink-source');
    await writeFile(source, Buffer.alloc(4 * mebibyte, 7));

    await runCommand('cp', ['--reflink=always', source, `${source}-copy`]);

    expect(statSync(`${source}-copy`).size).toBe(4 * mebibyte);
  });

  it('is left as it is by a second call, which reports nothing created', async () => {
    const imageModified = statSync(plan().paths.volumeImage).mtimeMs;

    const state = await ensureVolume(plan(), capturingLogger());

    expect(state.created).toBe(false);
    expect(state.mode).toBe('xfs');
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
    expect(mounts.filter((line) => line.split(' ')[4] === plan().paths.mountPoint)).toHaveLength(1);
    expect(statSync(plan().paths.volumeImage).mtimeMs).toBe(imageModified);
  });

  it('blocks writes while frozen and lets them finish once thawed', async () => {
    const frozen = await freezeFilesystem(plan().paths.mountPoint, {
      maximumFrozenMilliseconds: 30_000,
      logger: capturingLogger(),
    });
    const writer = startWriter(path.join(plan().paths.mountPoint, 'written-while-frozen'));
    try {
      await expectBlocked(writer);
    } finally {
      await frozen.thaw();
    }

    expect(await exited(writer)).toBe(0);
    await frozen.thaw();
    expect(await thawIfFrozen(plan().paths.mountPoint)).toBe(false);
  });

  it('is copied while frozen and the copy mounts beside the live volume', async () => {
    const marker = path.join(plan().paths.mountPoint, 'before-copy');
    await writeFile(marker, 'kept');
    const copy = path.join(root, 'images', 'copy.xfs');
    const snapshot = path.join(root, 'snapshot');

    const frozen = await freezeFilesystem(plan().paths.mountPoint, {
      maximumFrozenMilliseconds: 30_000,
      logger: capturingLogger(),
    });
    try {
      await copyImageFile(plan().paths.volumeImage, copy);
    } finally {
      await frozen.thaw();
    }
    await mountImageReadWrite(copy, snapshot, ['noatime']);
    await mountImageReadWrite(copy, snapshot, ['noatime']);

    expect(readFileSync(path.join(snapshot, 'before-copy'), 'utf8')).toBe('kept');
    await unmountPath(snapshot);
    await unmountPath(snapshot);
    expect(await isMountPoint(snapshot)).toBe(false);
    expect(await loopDevicesOf(copy)).toBe('');
    await rm(copy);
  });

  it('is thawed by the watchdog at the deadline, and thaw then reports the broken window', async () => {
    const frozen = await freezeFilesystem(plan().paths.mountPoint, {
      maximumFrozenMilliseconds: 300,
      logger: capturingLogger(),
    });
    const writer = startWriter(path.join(plan().paths.mountPoint, 'written-after-deadline'));

    expect(await exited(writer)).toBe(0);
    await expect(frozen.thaw()).rejects.toBeInstanceOf(FreezeWindowExceededError);
    await expect(frozen.thaw()).rejects.toThrow(/watchdog thawed it after the 300 ms/);
  });

  it('is thawed by the watchdog when the process that froze it dies', async () => {
    const script = path.join(root, 'freeze-and-die.mjs');
    await writeFile(
      script,
      `import { freezeFilesystem } from ${JSON.stringify(pathToFileURL(builtFreeze).href)};
const logger = { debug() {}, warn() {}, error() {}, child() { return logger; },
  info(message, fields) { process.stdout.write(JSON.stringify({ message, ...fields }) + '\\n'); } };
await freezeFilesystem(process.argv[2], { maximumFrozenMilliseconds: 60000, logger });
process.kill(process.pid, 'SIGKILL');
`,
    );
    const child = spawn(process.execPath, [script, plan().paths.mountPoint], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await exited(child);

    expect(child.signalCode).toBe('SIGKILL');
    const report = JSON.parse(output.split('\n')[0] ?? '{}') as { message?: string; watchdogPid?: number };
    expect(report.message).toBe('filesystem frozen');
    const writer = startWriter(path.join(plan().paths.mountPoint, 'written-after-death'));
    expect(await exited(writer)).toBe(0);
    const watchdogPid = report.watchdogPid ?? 0;
    await waitFor('the watchdog to end', () => [undefined, 'Z'].includes(processState(watchdogPid)), 5_000);
  });

  it('is thawed by start-up reconciliation when a crash left it frozen', async () => {
    await runCommand('xfs_freeze', ['-f', plan().paths.mountPoint]);

    expect(await thawIfFrozen(plan().paths.mountPoint)).toBe(true);
    expect(await thawIfFrozen(plan().paths.mountPoint)).toBe(false);
    expect(await thawIfFrozen(path.join(root, 'no-such-folder'))).toBe(false);
  });

  it('refuses to freeze the root filesystem or a folder that is not a mount point', async () => {
    const options = { maximumFrozenMilliseconds: 1_000, logger: capturingLogger() };
    const folder = path.join(plan().paths.mountPoint, 'not-a-mount');
    await mkdir(folder, { recursive: true });

    for (const target of ['/', root, folder]) {
      const refusal = await freezeFilesystem(target, options).catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(ValidationError);
      expect((refusal as ValidationError).field).toBe('mountPoint');
    }
  });

  it('raises DiskFullError when a copy runs out of space, and removes the partial copy', async () => {
    const mountPoint = plan().paths.mountPoint;
    const space = await statfs(mountPoint);
    const filler = path.join(mountPoint, 'filler');
    await runCommand('fallocate', ['--length', String(space.bavail * space.bsize - mebibyte), filler]);
    const source = path.join(root, 'eight-mebibytes');
    await writeFile(source, Buffer.alloc(8 * mebibyte, 1));
    const target = path.join(mountPoint, 'too-big');

    await expect(copyImageFile(source, target)).rejects.toBeInstanceOf(DiskFullError);

    expect(existsSync(target)).toBe(false);
    await rm(filler);
  });

  it('is removed without a mount or a loop device left, and removing it again is fine', async () => {
    await removeVolume(plan(), capturingLogger());

    expect(await isMountPoint(plan().paths.mountPoint)).toBe(false);
    expect(existsSync(plan().paths.mountPoint)).toBe(false);
    expect(existsSync(plan().paths.volumeImage)).toBe(false);
    expect((await runCommand('losetup', ['--list', '--noheadings'])).stdout).not.toContain(root);
    await removeVolume(plan(), capturingLogger());
  });
});

describe('an interrupted volume creation', () => {
  it('is completed by the next call, formatting an image that was never written', async () => {
    const plan = volumePlan('interrupted');
    await mkdir(path.dirname(plan.paths.volumeImage), { recursive: true });
    await writeFile(plan.paths.volumeImage, '');
    await truncate(plan.paths.volumeImage, plan.volume.sizeBytes);

    const state = await ensureVolume(plan, capturingLogger());

    expect(state).toMatchObject({ mode: 'xfs', created: true });
    expect(await filesystemType(plan.paths.mountPoint)).toBe('xfs');
    await removeVolume(plan, capturingLogger());
  });
});

describe('volumes that cannot be loop-mounted', () => {
  it('fall back to a plain directory in auto mode, with a warning and no image left', async () => {
    const plan = volumePlan('fallback', { mode: 'auto', mountOptions: ['noatime', 'no-such-option'] });
    const logger = capturingLogger();

    const state = await ensureVolume(plan, logger);

    expect(state.mode).toBe('directory');
    expect(state.created).toBe(true);
    expect(state.warning).toMatch(/making a loop-mounted XFS volume failed/);
    expect(logger.warnings.join('\n')).toContain('volume is a plain directory');
    expect(existsSync(plan.paths.volumeImage)).toBe(false);
    expect(await isMountPoint(plan.paths.mountPoint)).toBe(false);
  });

  it('fail in loop mode and leave nothing half-made', async () => {
    const plan = volumePlan('strict', { mountOptions: ['no-such-option'] });

    await expect(ensureVolume(plan, capturingLogger())).rejects.toThrow(/mount/);

    expect(existsSync(plan.paths.volumeImage)).toBe(false);
    expect(existsSync(plan.paths.mountPoint)).toBe(false);
  });

  it('are plain directories in directory mode, made once', async () => {
    const plan = volumePlan('plain', { mode: 'directory' });

    const first = await ensureVolume(plan, capturingLogger());
    const second = await ensureVolume(plan, capturingLogger());

    expect(first).toEqual({ mode: 'directory', mountPoint: plan.paths.mountPoint, created: true });
    expect(second.created).toBe(false);
    expect(statSync(plan.paths.mountPoint).isDirectory()).toBe(true);
    expect(existsSync(plan.paths.volumeImage)).toBe(false);
  });

  it('are refused below the smallest XFS size, naming the field', async () => {
    const plan = volumePlan('tiny', { sizeBytes: 16 * mebibyte });

    const refusal = await ensureVolume(plan, capturingLogger()).catch((error: unknown) => error);

    expect(refusal).toBeInstanceOf(ValidationError);
    expect((refusal as ValidationError).field).toBe('volume.sizeBytes');
  });
});
