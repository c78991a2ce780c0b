/**
 * provisionModule: volume, secrets, data directory, container, database, catalog. Running it
 * again changes nothing; when a step fails, what this run made is undone in reverse order.
 */
import { CancellationScope, log, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';

import type { ModulePlan } from '../lib/spec/plan.js';
import { operationAttributes } from '../lib/search-attributes.js';
import { control, hostSteps } from './activities.js';
import { checkInput, moduleRule } from './input.js';
import { ProgressTracker } from './progress.js';

export interface ProvisionModuleInput {
  module: string;
}

export interface ProvisionModuleResult {
  module: string;
  host: string;
  port: number;
  database: string;
  volumeMode: string;
  created: string[];
  warnings: string[];
}

const steps = ['plan', 'volume', 'secrets', 'data directory', 'container', 'database', 'catalog'];

export async function provisionModule(input: ProvisionModuleInput): Promise<ProvisionModuleResult> {
  checkInput<ProvisionModuleInput>(input, { module: moduleRule });
  const started = Date.now();
  const progress = new ProgressTracker('provision', String(input?.module), steps);
  const plan: ModulePlan = await progress.step('plan', () => control.resolveModulePlan(input));
  upsertSearchAttributes(operationAttributes(plan.module, 'provision', plan.host));
  const host = hostSteps(plan.taskQueue);
  const undo: { step: string; run: () => Promise<void> }[] = [];
  const created: string[] = [];
  const warnings: string[] = [];

  try {
    const volume = await progress.step('volume', () => host.prepareVolume(plan));
    if (volume.warning) warnings.push(volume.warning);
    if (volume.created) {
      created.push('volume');
      undo.push({ step: 'volume', run: () => host.destroyVolume(plan) });
    }

    const secrets = await progress.step('secrets', () => host.createSecrets(plan));
    if (secrets.length > 0) {
      created.push(`secrets (${secrets.join(', ')})`);
      undo.push({ step: 'secrets', run: () => host.deleteSecrets(plan, secrets) });
    }

    const data = await progress.step('data directory', () => host.initializeDataDirectory(plan));
    if (data.created) created.push('data directory');

    const container = await progress.step('container', () => host.startModuleContainer(plan));
    if (container.created) {
      created.push('container');
      undo.push({ step: 'container', run: () => host.removeModuleContainer(plan) });
    }

    await progress.step('database', () => control.configureDatabase(plan));

    await progress.step('catalog', () =>
      control.recordOutcome(plan, {
        operation: 'provision',
        ok: true,
        seconds: (Date.now() - started) / 1000,
        workflowId: workflowInfo().workflowId,
        state: 'running',
        volumeMode: volume.mode,
      }),
    );

    progress.finish('done');
    log.info('module provisioned', { module: plan.module, created });
    return {
      module: plan.module,
      host: plan.host,
      port: plan.port,
      database: plan.database,
      volumeMode: volume.mode,
      created,
      warnings,
    };
  } catch (error) {
    progress.finish('undoing');
    // Undoing must run to the end even when the workflow itself is being cancelled.
    await CancellationScope.nonCancellable(async () => {
      for (const { step, run } of undo.reverse()) {
        try {
          await run();
          progress.mark(step, 'undone');
        } catch (undoError) {
          log.error('could not undo a provisioning step', { step, error: String(undoError) });
        }
      }
      await control.recordOutcome(plan, {
        operation: 'provision',
        ok: false,
        seconds: (Date.now() - started) / 1000,
        workflowId: workflowInfo().workflowId,
        state: 'failed',
      });
      if (undo.some(({ step }) => step === 'volume')) await control.forgetModule(plan);
    });
    progress.finish('failed');
    throw error;
  }
}
