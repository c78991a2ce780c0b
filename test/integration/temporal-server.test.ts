import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createLogger } from '../../lib/logger.js';
import { searchAttributeNames } from '../../lib/search-attributes.js';
import { ensureTemporalServer, type TemporalServer } from '../../lib/temporal-server.js';
import { processExists } from '../../lib/process.js';

const logger = createLogger('temporal-server-test');

describe('ensureTemporalServer', () => {
  let dataRoot: string;
  let first: TemporalServer | undefined;

  beforeAll(async () => {
    dataRoot = await mkdtemp(path.join(os.tmpdir(), 'dbplane-test-temporal-'));
  });

  afterAll(async () => {
    await first?.stop();
    await rm(dataRoot, { recursive: true, force: true });
  });

  it('starts one dev server on loopback for two calls at once, and records it', async () => {
    const both = await Promise.all([
      ensureTemporalServer({ dataRoot, logger }),
      ensureTemporalServer({ dataRoot, logger }),
    ]);
    first = both.find((server) => server.started);

    expect(both.filter((server) => server.started)).toHaveLength(1);
    expect(both[0].address).toBe(both[1].address);
    expect(first!.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(first!.uiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const record = JSON.parse(await readFile(path.join(dataRoot, 'temporal', 'server.json'), 'utf8'));
    expect(record.address).toBe(first!.address);
    expect(processExists(record.pid)).toBe(true);
  });

  it('registers the dbplane search attributes as keywords', async () => {
    const connection = await Connection.connect({ address: first!.address });
    try {
      const listed = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      for (const name of searchAttributeNames) {
        expect(listed.customAttributes?.[name], name).toBe(2);
      }
    } finally {
      await connection.close();
    }
  });

  it('reuses the running server on a second call, and that call does not stop it', async () => {
    const second = await ensureTemporalServer({ dataRoot, logger });

    expect(second.started).toBe(false);
    expect(second.address).toBe(first!.address);
    await second.stop();
    const connection = await Connection.connect({ address: first!.address, connectTimeout: 5_000 });
    await connection.close();
  });

  it('registers a search attribute again when a reused server lacks it', async () => {
    const connection = await Connection.connect({ address: first!.address });
    try {
      await connection.operatorService.removeSearchAttributes({
        namespace: 'default',
        searchAttributes: ['DbplaneOperation'],
      });

      await ensureTemporalServer({ dataRoot, logger });

      const listed = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      expect(listed.customAttributes?.DbplaneOperation).toBe(2);
    } finally {
      await connection.close();
    }
  });

  it('accepts a reachable TEMPORAL_ADDRESS without starting anything', async () => {
    const given = await ensureTemporalServer({ dataRoot, address: first!.address, logger });

    expect(given).toMatchObject({ address: first!.address, started: false });
  });

  it('refuses a TEMPORAL_ADDRESS where nothing answers, naming the variable', async () => {
    const unused = await ensureTemporalServer({ dataRoot, address: '127.0.0.1:1', logger }).catch(
      (error: unknown) => error,
    );

    expect(unused).toBeInstanceOf(Error);
    expect((unused as Error).message).toContain('TEMPORAL_ADDRESS');
  });

  it('stops the server it started and forgets it', async () => {
    const recordFile = path.join(dataRoot, 'temporal', 'server.json');
    const { pid } = JSON.parse(await readFile(recordFile, 'utf8'));

    await first!.stop();
    first = undefined;

    expect(processExists(pid)).toBe(false);
    expect(existsSync(recordFile)).toBe(false);
  });
});
