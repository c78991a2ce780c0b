/**
 * Which restic a repository is used with: the release `restic version` reports, and the optional
 * flags that release understands. Read once a process for each binary.
 */
import { ValidationError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { runCommand } from '../../lib/process.js';
import { toolPath } from '../../lib/tools.js';
import type { ResticRepository } from './restic.js';

/** A restic release, read from `restic version`. */
export interface ResticVersion {
  major: number;
  minor: number;
  patch: number;
  /** The first line of `restic version`. */
  text: string;
}

/** Flags that only some restic versions understand. */
export interface ResticCapabilities {
  /** `--retry-lock` (0.16+): wait for a conflicting lock instead of failing at once. */
  retryLock: boolean;
}

/** A restic binary with what it can do. */
export interface ResticTool {
  binary: string;
  version: ResticVersion;
  capabilities: ResticCapabilities;
}

/** Reads the version out of `restic version` output. */
export function parseResticVersion(output: string): ResticVersion {
  const text = output.trim().split('\n')[0] ?? '';
  const match = /^restic (\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!match) throw new ValidationError('restic version', 'a line "restic X.Y.Z ..."', JSON.stringify(text));
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]), text };
}

/** The optional flags a restic version supports. */
export function resticCapabilities(version: ResticVersion): ResticCapabilities {
  const atLeast = (major: number, minor: number) =>
    version.major > major || (version.major === major && version.minor >= minor);
  return { retryLock: atLeast(0, 16) };
}

const detectedTools = new Map<string, Promise<ResticTool>>();

async function detect(binary: string, logger: Logger): Promise<ResticTool> {
  const { stdout } = await runCommand(binary, ['version']);
  const version = parseResticVersion(stdout);
  logger.info('restic version', { binary, version: version.text });
  return { binary, version, capabilities: resticCapabilities(version) };
}

/** The restic binary a repository is used with, its version and capabilities (read once a process). */
export function detectRestic(repository: Pick<ResticRepository, 'binary' | 'logger'>): Promise<ResticTool> {
  const binary = repository.binary ?? toolPath('restic');
  let detection = detectedTools.get(binary);
  if (!detection) {
    detection = detect(binary, repository.logger);
    detectedTools.set(binary, detection);
    detection.catch(() => detectedTools.delete(binary));
  }
  return detection;
}
