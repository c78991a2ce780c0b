/**
 * Our Prometheus metrics, served on loopback beside the SDK's own. Last-success times come from
 * the catalog at scrape time, so they survive worker restarts and a backup that stops happening
 * shows as a timestamp that stops moving.
 */
import { createServer, type Server } from 'node:http';
import { readdir } from 'node:fs/promises';
import path from 'node:path';

import client from 'prom-client';

import { readCatalogEntry } from './catalog.js';
import type { Logger } from './logger.js';

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry, prefix: 'dbplane_process_' });

export const activityDuration = new client.Histogram({
  name: 'dbplane_activity_duration_seconds',
  help: 'Time each activity attempt took, by activity type and outcome.',
  labelNames: ['activity', 'task_queue', 'outcome'],
  buckets: [0.05, 0.25, 1, 5, 15, 60, 300, 1800],
  registers: [registry],
});

export const operationFailures = new client.Counter({
  name: 'dbplane_operation_failures_total',
  help: 'Operations (provision, backup, restore check) that failed, by module.',
  labelNames: ['module', 'operation'],
  registers: [registry],
});

export const backupDuration = new client.Gauge({
  name: 'dbplane_backup_duration_seconds',
  help: 'Duration of the last successful backup of each module.',
  labelNames: ['module'],
  registers: [registry],
});

export const backupBytes = new client.Gauge({
  name: 'dbplane_backup_bytes',
  help: 'Bytes the last successful backup of each module covered.',
  labelNames: ['module'],
  registers: [registry],
});

/** Registers gauges computed from the catalog files under the given folders on every scrape. */
export function registerCatalogMetrics(catalogDirectories: () => string[]): void {
  const lastBackup = new client.Gauge({
    name: 'dbplane_last_backup_success_timestamp_seconds',
    help: 'Unix time of the last backup whose restore check passed, by module.',
    labelNames: ['module'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const entry of await readEntries(catalogDirectories())) {
        if (entry.lastVerifiedBackup)
          this.set({ module: entry.module }, Date.parse(entry.lastVerifiedBackup.at) / 1000);
      }
    },
  });
  const lastRestoreCheck = new client.Gauge({
    name: 'dbplane_last_restore_check_success_timestamp_seconds',
    help: 'Unix time of the last restore check that passed, by module.',
    labelNames: ['module'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const entry of await readEntries(catalogDirectories())) {
        if (entry.lastRestoreCheck?.passed) {
          this.set({ module: entry.module }, Date.parse(entry.lastRestoreCheck.at) / 1000);
        }
      }
    },
  });
  void lastBackup;
  void lastRestoreCheck;
}

async function readEntries(directories: string[]) {
  const entries = [];
  for (const directory of directories) {
    const files = await readdir(directory).catch(() => [] as string[]);
    for (const file of files.filter((name) => name.endsWith('.json'))) {
      const entry = await readCatalogEntry(path.join(directory, file)).catch(() => undefined);
      if (entry) entries.push(entry);
    }
  }
  return entries;
}

/** Serves /metrics on 127.0.0.1:port; a busy port is logged and skipped, not fatal. */
export async function serveMetrics(port: number, logger: Logger): Promise<Server | undefined> {
  const server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    registry
      .metrics()
      .then((text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text))
      .catch((error: Error) => response.writeHead(500).end(error.message));
  });
  return await new Promise((resolve) => {
    server.once('error', (error) => {
      logger.warn('metrics port unavailable, serving no metrics', { port, error });
      resolve(undefined);
    });
    server.listen(port, '127.0.0.1', () => {
      logger.info('serving metrics', { address: `http://127.0.0.1:${port}/metrics` });
      resolve(server);
    });
  });
}
