/**
 * The dbplane command line.
 */
import { Command, InvalidArgumentError } from 'commander';
import { WorkflowFailedError } from '@temporalio/client';

import { NotSupportedError, SpecError, ValidationError } from '../lib/errors.js';
import { connectClient, loadContext, type CommandContext, type GlobalOptions } from './context.js';
import { exitCodes } from './exit-codes.js';
import { backup, provision, restoreCheck } from './commands/operations.js';
import { formatSchedules, manageSchedules } from './commands/schedules.js';
import { collectStatus, formatStatusTable } from './commands/status.js';
import { up, type UpReport } from './commands/up.js';

function integer(field: string) {
  return (value: string) => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < 1) {
      throw new InvalidArgumentError(
        `${field}: expected a positive integer, received ${JSON.stringify(value)}`,
      );
    }
    return parsed;
  };
}

function exitCodeFor(error: unknown): number {
  if (error instanceof ValidationError || error instanceof SpecError || error instanceof NotSupportedError)
    return exitCodes.badInput;
  if (error instanceof WorkflowFailedError) return exitCodes.operationFailed;
  const message = error instanceof Error ? error.message : '';
  if (/ECONNREFUSED|UNAVAILABLE|did not answer|not reachable/i.test(message)) return exitCodes.unavailable;
  return exitCodes.operationFailed;
}

function describeFailure(error: unknown): string {
  if (error instanceof WorkflowFailedError) {
    let cause: unknown = error.cause;
    const messages = [error.message];
    while (cause instanceof Error) {
      messages.push(cause.message);
      cause = cause.cause;
    }
    return messages.join(': ');
  }
  return error instanceof Error ? error.message : String(error);
}

function print(context: CommandContext | undefined, value: unknown, text: () => string): void {
  process.stdout.write(context?.json ? `${JSON.stringify(value)}\n` : `${text()}\n`);
}

async function withClient<T>(
  options: GlobalOptions,
  run: (context: CommandContext, client: import('@temporalio/client').Client) => Promise<T>,
): Promise<T> {
  const context = loadContext(options);
  const { client } = await connectClient(context);
  try {
    return await run(context, client);
  } finally {
    await client.connection.close();
  }
}

const program = new Command('dbplane')
  .description('Control plane for a self-hosted database platform, on Temporal')
  .option('--json', 'print one JSON object instead of text')
  .option('--spec <file>', 'the platform spec (default: DBPLANE_SPEC or platform.yaml)')
  .showHelpAfterError();

program
  .command('up')
  .description('start Temporal and the workers, provision the modules, back up under load, verify, report')
  .option('--once', 'exit when done instead of running until Ctrl-C')
  .option(
    '--scale <n>',
    'pgbench scale of the usersdb workload',
    integer('--scale'),
    Number(process.env.DBPLANE_WORKLOAD_SCALE ?? 20),
  )
  .action(async (options: { once?: boolean; scale: number }) => {
    const globals = program.opts<GlobalOptions>();
    const context = loadContext(globals);
    let report: UpReport;
    try {
      report = await up(context, { once: options.once ?? false, scale: options.scale });
    } catch (error) {
      report = (error as { report?: UpReport }).report ?? {
        ok: false,
        modules: {},
        error: describeFailure(error),
      };
      report.error = describeFailure(error);
      process.stdout.write(`${JSON.stringify(report)}\n`);
      process.exitCode = exitCodeFor(error);
      return;
    }
    process.stdout.write(`${JSON.stringify(report)}\n`);
    process.exitCode = report.ok ? exitCodes.ok : exitCodes.operationFailed;
  });

program
  .command('provision <module>')
  .description('create or repair a module: volume, secrets, container, database')
  .action(async (module: string) => {
    const outcome = await withClient(program.opts(), (context, client) => provision(context, client, module));
    print(
      loadContext(program.opts()),
      outcome,
      () =>
        `provisioned ${outcome.result.module} on port ${outcome.result.port} (${outcome.result.created.join(', ') || 'nothing new'})`,
    );
  });

program
  .command('backup <module>')
  .description('take a consistent backup of a module and prove it with a restore check')
  .option('--no-verify', 'skip the restore check (the backup is then not reported as verified)')
  .action(async (module: string, options: { verify: boolean }) => {
    const outcome = await withClient(program.opts(), (context, client) =>
      backup(context, client, module, options.verify),
    );
    const result = outcome.result;
    print(
      loadContext(program.opts()),
      outcome,
      () =>
        `backup ${result.snapshotId} of ${result.module}: ${result.bytes} bytes in ${result.seconds.toFixed(1)} s, restore check ${result.restoreCheck ? (result.restoreCheck.passed ? 'passed' : 'FAILED') : 'skipped'}`,
    );
  });

program
  .command('restore-check <module>')
  .description('restore a backup into scratch space and verify it')
  .option('--snapshot <id>', 'the restic snapshot to check (default: the newest)')
  .action(async (module: string, options: { snapshot?: string }) => {
    const outcome = await withClient(program.opts(), (context, client) =>
      restoreCheck(context, client, module, options.snapshot),
    );
    const result = outcome.result;
    print(
      loadContext(program.opts()),
      outcome,
      () =>
        `restore check of ${result.snapshotId}: ${result.passed ? 'passed' : 'FAILED'} (${result.filesMatched} files, ${result.tables} tables, ${result.rows} rows, restore ${result.restoreSeconds.toFixed(1)} s)`,
    );
  });

program
  .command('schedules [action] [module]')
  .description('list, pause, unpause or trigger the nightly backup and weekly restore check schedules')
  .option('--operation <operation>', 'only the backup or the restore-check schedule')
  .action(async (action: string | undefined, module: string | undefined, options: { operation?: string }) => {
    const states = await withClient(program.opts(), (context, client) =>
      manageSchedules(context, client, action ?? 'list', module, options.operation),
    );
    print(loadContext(program.opts()), states, () => formatSchedules(states));
  });

program
  .command('status')
  .description('show each module, its last backup and restore check, and its schedules')
  .action(async () => {
    const statuses = await withClient(program.opts(), (context, client) => collectStatus(context, client));
    print(loadContext(program.opts()), statuses, () => formatStatusTable(statuses));
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  const code = exitCodeFor(error);
  const message = describeFailure(error);
  if (program.opts<GlobalOptions>().json)
    process.stdout.write(`${JSON.stringify({ ok: false, error: message })}\n`);
  process.stderr.write(`dbplane: ${message}\n`);
  process.exit(code);
});
