/**
 * Starting dbplane workflows from the command line, with search attributes, a readable summary
 * in the Temporal UI, and progress while they run.
 */
import { WorkflowIdConflictPolicy, type Client } from '@temporalio/client';

import { controlTaskQueue } from '../lib/task-queues.js';
import { operationAttributes } from '../lib/search-attributes.js';
import type { CommandContext } from './context.js';
import { followProgress } from './progress.js';

export type WorkflowType = 'provisionModule' | 'backupModule' | 'restoreCheck';

const operationOf: Record<WorkflowType, string> = {
  provisionModule: 'provision',
  backupModule: 'backup',
  restoreCheck: 'restore-check',
};

function timestamp(): string {
  return new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Starts the workflow for one module and waits for its result, showing progress unless --json. */
export async function runOperation<T>(
  context: CommandContext,
  client: Client,
  workflowType: WorkflowType,
  input: { module: string } & Record<string, unknown>,
): Promise<{ workflowId: string; result: T }> {
  const operation = operationOf[workflowType];
  const host = context.spec.modules[input.module as keyof typeof context.spec.modules]?.host;
  // Provisioning the same module twice at once would race; a second caller joins the first run.
  const workflowId =
    workflowType === 'provisionModule'
      ? `provision-${input.module}`
      : `${operation}-${input.module}-${timestamp()}`;
  const handle = await client.workflow.start(workflowType, {
    taskQueue: controlTaskQueue,
    workflowId,
    args: [input],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    typedSearchAttributes: operationAttributes(input.module, operation, host),
    staticSummary: `${operation} of ${input.module}${host ? ` on ${host}` : ''}`,
  });
  context.logger.info('workflow started', { workflowId, workflowType, module: input.module });
  const result = await followProgress<T>(handle, context.json);
  return { workflowId, result };
}

/** Whether any worker polls the control task queue; commands warn when none does. */
export async function hasControlWorker(client: Client, namespace: string): Promise<boolean> {
  const response = await client.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: controlTaskQueue },
    taskQueueType: 1,
  });
  return (response.pollers?.length ?? 0) > 0;
}
