/**
 * Replays every saved history against today's workflow code. A change that would make a running
 * workflow take another path fails here, before it reaches a worker.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';

const projectRoot = path.resolve(import.meta.dirname, '..', '..');
const historiesDirectory = path.join(projectRoot, 'test', 'histories');
const workflowsPath = path.join(projectRoot, 'dist', 'workflows', 'index.js');

const workflowTypes = ['provisionModule', 'backupModule', 'restoreCheck'];

function savedHistories(): { workflowType: string; file: string }[] {
  return workflowTypes.flatMap((workflowType) => {
    const directory = path.join(historiesDirectory, workflowType);
    let files: string[] = [];
    try {
      // Histories recorded before a change live in sub-folders named for the patch that guards it.
      files = readdirSync(directory, { recursive: true, encoding: 'utf8' }).filter((name) =>
        name.endsWith('.json'),
      );
    } catch {
      files = [];
    }
    return files.map((file) => ({ workflowType, file: path.join(directory, file) }));
  });
}

describe('saved workflow histories', () => {
  it.each(workflowTypes)('include at least one %s history', (workflowType) => {
    expect(
      savedHistories().filter((history) => history.workflowType === workflowType).length,
    ).toBeGreaterThan(0);
  });

  it.each(savedHistories().map((history) => [path.relative(historiesDirectory, history.file), history.file]))(
    'replay %s without nondeterminism',
    async (_name, file) => {
      const history = historyFromJSON(JSON.parse(readFileSync(file as string, 'utf8')));
      const workflowId = path.basename(file as string, '.json');
      await Worker.runReplayHistory({ workflowsPath, replayName: String(_name) }, history, workflowId);
    },
  );
});
