/**
 * What every worker process shares: the SDK runtime with its Prometheus endpoint, our own
 * metrics, activity timing, and a graceful shutdown on SIGINT and SIGTERM.
 */
import type { Server } from 'node:http';
import { createServer } from 'node:net';

import { Context } from '@temporalio/activity';
import {
  DefaultLogger,
  makeTelemetryFilterString,
  NativeConnection,
  Runtime,
  type ActivityInboundCallsInterceptor,
  type ActivityExecuteInput,
  type Next,
  type Worker,
} from '@temporalio/worker';

import type { Config } from '../lib/config.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { activityDuration, serveMetrics } from '../lib/metrics.js';

async function isPortFree(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Installs the SDK runtime: its metrics on port+1 of ours, its logs as our structured lines. */
export async function installRuntime(component: string, metricsPort: number): Promise<Logger> {
  const logger = createLogger(component);
  const sdkMetricsPort = metricsPort + 1;
  // A busy port (another worker on this host) costs the SDK's metrics, not the worker.
  const sdkMetricsFree = await isPortFree(sdkMetricsPort);
  if (!sdkMetricsFree)
    logger.warn('SDK metrics port unavailable, serving no SDK metrics', { port: sdkMetricsPort });
  Runtime.install({
    logger: new DefaultLogger('WARN', (entry) => {
      const level = entry.level === 'ERROR' ? 'error' : entry.level === 'WARN' ? 'warn' : 'info';
      logger[level](entry.message, { ...(entry.meta ?? {}) });
    }),
    telemetryOptions: {
      // The SDK's native side logs through our logger too, not to stdout in its own format.
      logging: { filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }), forward: {} },
      ...(sdkMetricsFree ? { metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkMetricsPort}` } } } : {}),
    },
  });
  return logger;
}

class ActivityTiming implements ActivityInboundCallsInterceptor {
  async execute(
    input: ActivityExecuteInput,
    next: Next<ActivityInboundCallsInterceptor, 'execute'>,
  ): Promise<unknown> {
    const info = Context.current().info;
    const end = activityDuration.startTimer({ activity: info.activityType, task_queue: info.taskQueue });
    try {
      const result = await next(input);
      end({ outcome: 'completed' });
      return result;
    } catch (error) {
      end({ outcome: Context.current().cancellationSignal.aborted ? 'cancelled' : 'failed' });
      throw error;
    }
  }
}

/** Interceptors that time every activity attempt. */
export const activityInterceptors = [() => ({ inbound: new ActivityTiming() })];

/** Connects to the Temporal server named in the configuration. */
export async function connect(config: Config): Promise<NativeConnection> {
  return await NativeConnection.connect({ address: config.temporalAddress });
}

/**
 * Runs the worker until SIGINT or SIGTERM, then shuts it down gracefully: running activities get
 * the shutdown grace time to finish, then are cancelled, and their cleanup runs.
 */
export async function runUntilSignalled(
  worker: Worker,
  connection: NativeConnection,
  logger: Logger,
  metricsPort: number,
  beforeShutdown: () => Promise<void> = async () => undefined,
): Promise<void> {
  const metrics: Server | undefined = await serveMetrics(metricsPort, logger);
  const stop = (signal: string) => {
    logger.info('shutting down', { signal, state: worker.getState() });
    if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  try {
    await worker.run();
  } finally {
    await beforeShutdown();
    metrics?.close();
    await connection.close();
    logger.info('stopped');
  }
}
