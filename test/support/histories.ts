/**
 * Saving real workflow histories for the replay tests. The integration suites call this for the
 * runs they make; files are written only when RECORD_HISTORIES=1 (see `npm run record-histories`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { execFileSync } from 'node:child_process';

import type { Client } from '@temporalio/client';

import { toolPath } from '../../lib/tools.js';
import { testEnvironment } from './client.js';

import { projectRoot } from './processes.js';

export const historiesDirectory = path.join(projectRoot, 'test', 'histories');

/**
 * Writes the history of a finished workflow to test/histories/<workflowType>/<workflowId>.json; the
 * replay test takes the workflow id back from the file name, as child workflow ids derive from it.
 */
export async function saveHistory(client: Client, workflowId: string, workflowType: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  await client.workflow
    .getHandle(workflowId)
    .result()
    .catch(() => undefined);
  // The CLI writes the canonical JSON form that Temporal's replayers and UI read.
  const history = execFileSync(
    toolPath('temporal'),
    [
      'workflow',
      'show',
      '--workflow-id',
      workflowId,
      '--output',
      'json',
      '--address',
      testEnvironment().temporalAddress,
      '--namespace',
      client.options.namespace,
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  const directory = path.join(historiesDirectory, workflowType);
  mkdirSync(directory, { recursive: true });
  writeFileSync(path.join(directory, `${workflowId}.json`), history);
}
