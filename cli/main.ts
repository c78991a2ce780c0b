/**
 * The dbplane command line.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { WorkflowFailedError, type Client } from '@temporalio/client';

import { NotSupportedError, SpecError, ValidationError } from '../lib/errors.js';
import {
  connectClient,
  loadContext,
  TemporalUnavailableError,
  type CommandContext,
  type GlobalOptions,
} from './context.js';
import { exitCodes } from './exit-codes.js';
import { describeBackup, describeProvision, describeRestoreCheck } from './format.js';
import { backup, checkModule, provision, restoreCheck } from './commands/operations.js';
import { checkScheduleArguments, formatSchedules, manageSchedules } from './commands/schedules.js';
import { collectStatus, formatStatusTable } from './commands/status.js';
import { InterruptedError, up, type UpReport } from './commands/up.js';

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
  if (error instanceof InterruptedError) return exitCodes.interrupted;
  if (error instanceof CommanderError) return exitCodes.badInput;
  if (error instanceof TemporalUnavailableError) return exitCodes.unavailable;
  if (error instanceof ValidationError || error instanceof SpecError || error instanceof NotSupportedError)
    return exitCodes.badInput;
  if (error instanceof WorkflowFailedError) return exitCodes.operationFailed;
  const message = error instanceof Error ? error.message : '';
  const unreachable =
    /ECONNREFUSED|UNAVAILABLE|did not answer|not reachable|Failed to get Workflow execution history/i;
  if (unreachable.test(message)) return exitCodes.unavailable;
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

/** Runs a command with a context and a client, then prints its result as JSON or as text. */
async function runWithClient<T>(
  run: (context: CommandContext, client: Client) => Promise<T>,
  describe: (result: T) => string,
  validate: (context: CommandContext) => void = () => undefined,
): Promise<void> {
  const context = loadContext(program.opts<GlobalOptions>());
  // Bad input fails here, before anything is connected to or started.
  validate(context);
  const { client } = await connectClient(context);
  try {
    const result = await run(context, client);
    process.stdout.write(context.json ? `${JSON.stringify(result)}\n` : `${describe(result)}\n`);
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
    await runWithClient(
      (context, client) => provision(context, client, module),
      (outcome) => describeProvision(outcome.result),
      (context) => checkModule(context, module),
    );
  });

program
  .command('backup <module>')
  .description('take a consistent backup of a module and prove it with a restore check')
  .option('--no-verify', 'skip the restore check (the backup is then not reported as verified)')
  .action(async (module: string, options: { verify: boolean }) => {
    await runWithClient(
      (context, client) => backup(context, client, module, options.verify),
      (outcome) => describeBackup(outcome.result),
      (context) => checkModule(context, module),
    );
  });

program
  .command('restore-check <module>')
  .description('restore a backup into scratch space and verify it')
  .option('--snapshot <id>', 'the restic snapshot to check (default: the newest)')
  .action(async (module: string, options: { snapshot?: string }) => {
    await runWithClient(
      (context, client) => restoreCheck(context, client, module, options.snapshot),
      (outcome) => describeRestoreCheck(outcome.result),
      (context) => {
        checkModule(context, module);
        if (options.snapshot !== undefined && !/^[0-9a-f]{8,64}$/.test(options.snapshot)) {
          throw new ValidationError(
            '--snapshot',
            'a restic snapshot id (8 to 64 hex digits)',
            JSON.stringify(options.snapshot),
          );
        }
      },
    );
  });

program
  .command('schedules [action] [module]')
  .description('list, pause, unpause or trigger the nightly backup and weekly restore check schedules')
  .option('--operation <operation>', 'only the backup or the restore-check schedule')
  .action(async (action: string | undefined, module: string | undefined, options: { operation?: string }) => {
    await runWithClient(
      (context, client) => manageSchedules(context, client, action ?? 'list', module, options.operation),
      formatSchedules,
      (context) => checkScheduleArguments(context, action ?? 'list', module, options.operation),
    );
  });

program
  .command('status')
  .description('show each module, its container, last backup and restore check, and its schedules')
  .action(async () => {
    const context = loadContext(program.opts<GlobalOptions>());
    let client: Client | undefined;
    try {
      client = (await connectClient(context)).client;
    } catch (error) {
      // The catalog and the containers answer without Temporal; only the schedules need it.
      if (!(error instanceof TemporalUnavailableError)) throw error;
      context.logger.warn('schedules unknown: Temporal is not reachable', { reason: error.message });
    }
    try {
      const statuses = await collectStatus(context, client);
      process.stdout.write(
        context.json ? `${JSON.stringify(statuses)}\n` : `${formatStatusTable(statuses)}\n`,
      );
    } finally {
      await client?.connection.close();
    }
  });

program.exitOverride();

program.parseAsync(process.argv).catch((error: unknown) => {
  // Commander has printed its own message (or the help) already.
  if (error instanceof CommanderError && error.exitCode === 0) process.exit(0);
  const code = exitCodeFor(error);
  const message = describeFailure(error);
  if (error instanceof CommanderError) {
    if (process.argv.includes('--json'))
      process.stdout.write(`${JSON.stringify({ ok: false, error: message })}\n`);
    process.exit(code);
  }
  if (program.opts<GlobalOptions>().json)
    process.stdout.write(`${JSON.stringify({ ok: false, error: message })}\n`);
  process.stderr.write(`dbplane: ${message}\n`);
  process.exit(code);
});
