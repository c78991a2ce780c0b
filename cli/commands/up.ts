/**
 * up: the main job. Starts Temporal (unless one is configured) and the workers, reconciles the
 * schedules, provisions the spec's modules, loads a real workload into usersdb, takes a backup
 * while the workload keeps writing, proves it with a restore check, and reports.
 */
import type { Client } from '@temporalio/client';

import { supportedModules, type ModuleName } from '../../lib/names.js';
import { enabledModules, planModule } from '../../lib/spec/plan.js';
import { reconcileSchedules, type ReconcileReport } from '../../schedules/reconcile.js';
import type { BackupModuleResult } from '../../workflows/backup-module.js';
import type { TemporalServer } from '../../lib/temporal-server.js';
import { connectClient, type CommandContext } from '../context.js';
import { hasControlWorker } from '../operations.js';
import { startWorkers } from '../workers.js';
import { committedTransactions, loadWorkload, startWriting } from '../workload.js';
import { backup, provision } from './operations.js';
import { collectStatus, formatStatusTable } from './status.js';

export interface UpOptions {
  once: boolean;
  scale: number;
}

export interface UpReport {
  ok: boolean;
  modules: Record<string, string>;
  backup?: { snapshotId: string; bytes: number; seconds: number; workflowId: string };
  restoreCheck?: { passed: boolean; seconds: number; restoreSeconds: number; tables: number; rows: number };
  workload?: { scale: number; loaded: boolean; transactionsDuringBackup: number };
  schedules?: ReconcileReport;
  temporal?: { address: string; uiUrl?: string };
  error?: string;
}

function say(context: CommandContext, message: string): void {
  process.stderr.write(`dbplane: ${message}\n`);
  context.logger.debug(message);
}

async function waitForWorkers(client: Client, namespace: string, timeoutMilliseconds: number): Promise<void> {
  const deadline = Date.now() + timeoutMilliseconds;
  while (!(await hasControlWorker(client, namespace))) {
    if (Date.now() > deadline)
      throw new Error('the control worker did not start polling; see its log under <dataRoot>/logs');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function backupUnderLoad(
  context: CommandContext,
  client: Client,
  module: ModuleName,
  scale: number,
  report: UpReport,
) {
  const plan = planModule(context.spec, context.specDirectory, module);
  say(context, `making sure ${module} holds the pgbench workload (scale ${scale})`);
  const workload = await loadWorkload(plan, scale);
  if (!workload.loaded) say(context, `the workload is there already (${workload.accounts} accounts)`);
  const before = await committedTransactions(plan);

  say(context, `backing up ${module} while pgbench keeps writing`);
  const writer = await startWriting(plan);
  let outcome;
  try {
    outcome = await backup(context, client, module, true);
  } finally {
    await writer.stop();
  }
  const result: BackupModuleResult = outcome.result;
  const after = await committedTransactions(plan);
  report.workload = { scale, loaded: workload.loaded, transactionsDuringBackup: after - before };
  report.backup = {
    snapshotId: result.snapshotId,
    bytes: result.bytes,
    seconds: result.seconds,
    workflowId: outcome.workflowId,
  };
  if (result.restoreCheck) {
    report.restoreCheck = {
      passed: result.restoreCheck.passed,
      seconds: result.restoreCheck.seconds,
      restoreSeconds: result.restoreCheck.restoreSeconds,
      tables: result.restoreCheck.tables,
      rows: result.restoreCheck.rows,
    };
  }
}

/** Raised when Ctrl-C stops `up` in the middle of its work. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';

  constructor(signal: string) {
    super(`stopped by ${signal}; workflows already started go on when the workers run again`);
  }
}

/** A promise that rejects on the first SIGINT or SIGTERM, so work in progress can stop waiting. */
function waitForStopSignal(): { received: Promise<never>; dispose(): void } {
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const received = new Promise<never>((_, reject) => {
    onSignal = (signal) => reject(new InterruptedError(signal));
  });
  received.catch(() => undefined);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    received,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

async function runOnce(
  context: CommandContext,
  client: Client,
  server: TemporalServer,
  options: UpOptions,
  report: UpReport,
): Promise<void> {
  await waitForWorkers(client, context.config.namespace, 120_000);

  say(context, 'reconciling schedules from the spec');
  report.schedules = await reconcileSchedules(client, context.spec, context.logger);

  for (const module of enabledModules(context.spec)) {
    if (!supportedModules.includes(module)) {
      report.modules[module] = 'not supported yet';
      continue;
    }
    say(context, `provisioning ${module}`);
    await provision(context, client, module);
    report.modules[module] = 'running';
  }

  if (report.modules.usersdb === 'running') {
    await backupUnderLoad(context, client, 'usersdb', options.scale, report);
  }
  report.ok = report.restoreCheck?.passed ?? report.modules.usersdb !== 'running';

  const statuses = await collectStatus(context, client);
  // With --json, stdout holds the one JSON report alone.
  const output = context.json ? process.stderr : process.stdout;
  output.write(`${formatStatusTable(statuses)}\n`);
  if (server.uiUrl) output.write(`Temporal Web UI: ${server.uiUrl}\n`);
}

/** Runs the main job; resolves with the report once done (with --once) or once interrupted. */
export async function up(context: CommandContext, options: UpOptions): Promise<UpReport> {
  const report: UpReport = { ok: false, modules: {} };
  say(
    context,
    process.env.TEMPORAL_ADDRESS
      ? `using Temporal at ${process.env.TEMPORAL_ADDRESS}`
      : 'starting or reusing the local Temporal dev server',
  );
  const { client, server } = await connectClient(context, { mayStartServer: true });
  report.temporal = { address: server.address, ...(server.uiUrl ? { uiUrl: server.uiUrl } : {}) };

  say(context, 'starting the control worker and the host agent');
  const workers = startWorkers(context.dataRoot, server.address, context.logger);
  const stopSignal = waitForStopSignal();
  try {
    await Promise.race([runOnce(context, client, server, options, report), stopSignal.received]);

    if (!options.once) {
      say(context, 'running; press Ctrl-C to stop the workers');
      await stopSignal.received.catch(() => undefined);
    }
  } catch (error) {
    report.ok = false;
    report.error = (error as Error).message;
    throw Object.assign(error as Error, { report });
  } finally {
    stopSignal.dispose();
    say(context, 'stopping the workers');
    await workers.stop();
    if (server.started) {
      say(context, 'stopping the Temporal dev server this run started (its data stays under the data root)');
      await server.stop();
    }
    await client.connection.close();
  }
  return report;
}
