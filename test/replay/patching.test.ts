/**
 * Proof that workflow changes are guarded: a history recorded before a change still replays with
 * the guard in place, and fails to replay when the same change is made without its guard.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';

const projectRoot = path.resolve(import.meta.dirname, '..', '..');
const workflowsPath = path.join(projectRoot, 'dist', 'workflows', 'index.js');
const backupHistories = path.join(
  projectRoot,
  'test',
  'histories',
  'backupModule',
  'before-backup-starts-stopped-server',
);

function historyWithoutPatch(patchId: string): { workflowId: string; history: unknown } | undefined {
  for (const file of readdirSync(backupHistories)) {
    const text = readFileSync(path.join(backupHistories, file), 'utf8');
    if (!text.includes(patchId))
      return { workflowId: path.basename(file, '.json'), history: JSON.parse(text) };
  }
  return undefined;
}

describe('the backup-starts-stopped-server patch', () => {
  const recordedBefore = historyWithoutPatch('backup-starts-stopped-server');

  it.skipIf(!recordedBefore)('replays a backup recorded before the patch', async () => {
    const { workflowId, history } = recordedBefore!;
    await Worker.runReplayHistory({ workflowsPath }, historyFromJSON(history), workflowId);
  });

  it.skipIf(!recordedBefore)('is needed: the same change without patched() breaks that replay', async () => {
    const { workflowId, history } = recordedBefore!;
    const shim = path.join(projectRoot, 'test', 'support', 'unguarded-workflow-api.js');
    const workflowBundle = await bundleWorkflowCode({
      workflowsPath,
      logger: new DefaultLogger('WARN'),
      webpackConfigHook: (config) => {
        config.resolve = {
          ...config.resolve,
          alias: { ...config.resolve?.alias, '@temporalio/workflow$': shim },
        };
        return config;
      },
    });
    await expect(
      Worker.runReplayHistory({ workflowBundle }, historyFromJSON(history), workflowId),
    ).rejects.toThrow(/nondeterminism/i);
  });
});
