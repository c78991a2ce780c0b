import path from 'node:path';

import { Context } from '@temporalio/activity';

import { secretFile } from '../../lib/secrets.js';
import type { ModulePlan } from '../../lib/spec/plan.js';
import type { Logger } from '../../lib/logger.js';
import type { ResticRepository } from './restic.js';

/** The module's restic repository, its password file and a cache under the data root. */
export function moduleRepository(plan: ModulePlan, logger: Logger): ResticRepository {
  let signal: AbortSignal | undefined;
  try {
    signal = Context.current().cancellationSignal;
  } catch {
    signal = undefined;
  }
  return {
    repository: plan.paths.repository,
    passwordFile: secretFile(plan.paths.secretsDirectory, 'restic'),
    cacheDirectory: path.join(plan.paths.dataRoot, 'cache', 'restic'),
    ...(signal ? { signal } : {}),
    logger,
  };
}

/** The tags every backup of a module carries, so its snapshots can be told from others'. */
export function moduleTags(plan: ModulePlan): string[] {
  return [`module=${plan.module}`, `host=${plan.host}`, 'dbplane'];
}
