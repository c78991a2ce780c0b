/**
 * Where the external tools are. The bootstrap script puts tools that must not touch the system
 * into .tools/bin; those win over the ones on PATH.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

import { projectRoot } from './config.js';

export const toolsDirectory = path.join(projectRoot, '.tools', 'bin');
const postgresBinaries = '/usr/lib/postgresql/15/bin';

/** Resolves a tool name to the path that will be run. */
export function toolPath(name: string): string {
  const local = path.join(toolsDirectory, name);
  if (existsSync(local)) return local;
  const postgres = path.join(postgresBinaries, name);
  if (existsSync(postgres)) return postgres;
  return name;
}

/** Where PostgreSQL's server binaries are, inside a container run from the host's root. */
export const postgresBinaryDirectory = postgresBinaries;
