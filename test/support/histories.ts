/**
 * Saving real workflow histories for the replay tests. The integration suites call this for the
 * runs they make; files are written only when RECORD_HISTORIES=1 (see `npm run record-histories`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

import { projectRoot } from './processes.js';

export const historiesDirectory = path.join(projectRoot, 'test', 'histories');

/** Writes the history of a finished workflow to test/histories/<workflowType>/<name>.json. */
export async function saveHistory(client: Client, workflowId: string, workflowType: string, name: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const directory = path.join(historiesDirectory, workflowType);
  mkdirSync(directory, { recursive: true });
  writeFileSync(path.join(directory, `${name}.json`), `${historyToJSON(history)}\n`);
}
