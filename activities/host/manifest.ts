/**
 * The manifest of a backup: every file of the snapshot with its size and SHA-256. It is written
 * into the snapshot, so it travels in the backup itself, and only its digest enters histories.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const manifestFileName = 'dbplane-manifest.json';

export interface ManifestFile {
  path: string;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  module: string;
  snapshotId: string;
  createdAt: string;
  startLsn: string;
  stopLsn: string;
  files: ManifestFile[];
}

export interface ManifestSummary {
  files: number;
  bytes: number;
  /** SHA-256 of the manifest file, so a restore can prove it read the same manifest. */
  sha256: string;
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Lists every regular file below root, sorted, with size and checksum. */
export async function describeFiles(root: string, onFile?: (count: number) => void): Promise<ManifestFile[]> {
  const files: ManifestFile[] = [];
  const walk = async (directory: string): Promise<void> => {
    const entries = await readdir(directory, { withFileTypes: true });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const full = path.join(directory, entry.name);
      if (entry.isDirectory()) {
        await walk(full);
        continue;
      }
      if (!entry.isFile()) continue;
      const stat = await lstat(full);
      files.push({ path: path.relative(root, full), bytes: stat.size, sha256: await hashFile(full) });
      onFile?.(files.length);
    }
  };
  await walk(root);
  return files;
}

/** Writes the manifest of dataDirectory into snapshotRoot and returns its summary. */
export async function writeManifest(
  snapshotRoot: string,
  dataDirectory: string,
  header: Omit<Manifest, 'files'>,
  onFile?: (count: number) => void,
): Promise<ManifestSummary> {
  const files = await describeFiles(dataDirectory, onFile);
  const text = `${JSON.stringify({ ...header, files }, null, 1)}\n`;
  await writeFile(path.join(snapshotRoot, manifestFileName), text);
  return {
    files: files.length,
    bytes: files.reduce((sum, file) => sum + file.bytes, 0),
    sha256: createHash('sha256').update(text).digest('hex'),
  };
}

export interface ManifestComparison {
  matched: number;
  missing: string[];
  changed: string[];
  manifestSha256: string;
}

/** Compares the files under dataDirectory with the manifest found in restoredRoot. */
export async function compareWithManifest(
  restoredRoot: string,
  dataDirectory: string,
): Promise<ManifestComparison> {
  const text = await readFile(path.join(restoredRoot, manifestFileName), 'utf8');
  const manifest = JSON.parse(text) as Manifest;
  const restored = new Map((await describeFiles(dataDirectory)).map((file) => [file.path, file]));
  const missing: string[] = [];
  const changed: string[] = [];
  let matched = 0;
  for (const expected of manifest.files) {
    const actual = restored.get(expected.path);
    if (!actual) missing.push(expected.path);
    else if (actual.sha256 !== expected.sha256 || actual.bytes !== expected.bytes)
      changed.push(expected.path);
    else matched += 1;
  }
  return { matched, missing, changed, manifestSha256: createHash('sha256').update(text).digest('hex') };
}
