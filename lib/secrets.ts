/**
 * Generated secrets: one file a secret, readable only by its owner, under the module's secrets
 * folder. Only names of secrets ever leave this file; their values stay on disk.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';

import { checkSafeName } from './names.js';

export type SecretName = 'superuser' | 'owner' | 'read-write' | 'read-only' | 'restic';

export const secretNames: readonly SecretName[] = ['superuser', 'owner', 'read-write', 'read-only', 'restic'];

/** The file that holds a secret. */
export function secretFile(secretsDirectory: string, name: SecretName): string {
  return path.join(secretsDirectory, `${checkSafeName('secret', name)}.password`);
}

/** Creates each missing secret with 32 random bytes; returns the names it created. */
export async function ensureSecrets(secretsDirectory: string): Promise<SecretName[]> {
  await mkdir(secretsDirectory, { recursive: true, mode: 0o700 });
  await chmod(secretsDirectory, 0o700);
  const created: SecretName[] = [];
  for (const name of secretNames) {
    let handle;
    try {
      // 'wx' fails when the file exists, so a secret is never overwritten.
      handle = await open(secretFile(secretsDirectory, name), 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw error;
    }
    try {
      await handle.writeFile(randomBytes(32).toString('base64url'));
    } finally {
      await handle.close();
    }
    created.push(name);
  }
  return created;
}

/** Reads one secret's value. */
export async function readSecret(secretsDirectory: string, name: SecretName): Promise<string> {
  return (await readFile(secretFile(secretsDirectory, name), 'utf8')).trim();
}

/** Deletes the named secrets, and the folder when it is left empty. */
export async function removeSecrets(secretsDirectory: string, names: readonly SecretName[]): Promise<void> {
  for (const name of names) await rm(secretFile(secretsDirectory, name), { force: true });
  await rm(secretsDirectory, { recursive: false }).catch(() => undefined);
}
