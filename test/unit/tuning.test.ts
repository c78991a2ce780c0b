import { describe, expect, it } from 'vitest';

import { postgresTuning } from '../../lib/tuning.js';

const gibibyte = 1024 ** 3;

describe('postgresTuning', () => {
  it('gives the reference settings on a 32 GiB host', () => {
    expect(postgresTuning(32 * gibibyte)).toMatchObject({
      max_connections: '500',
      shared_buffers: '16384MB',
      work_mem: '64MB',
    });
  });

  it.each([
    [2 * gibibyte, { max_connections: '50', shared_buffers: '1024MB', work_mem: '4MB' }],
    [8 * gibibyte, { max_connections: '125', shared_buffers: '4096MB', work_mem: '16MB' }],
    [64 * gibibyte, { max_connections: '500', shared_buffers: '32768MB', work_mem: '128MB' }],
    [256 * 1024 ** 2, { max_connections: '50', shared_buffers: '128MB', work_mem: '4MB' }],
  ])('scales to %d bytes of memory, within floors and caps', (memory, expected) => {
    expect(postgresTuning(memory)).toMatchObject(expected);
  });

  it('plans the cache at three quarters of the memory', () => {
    expect(postgresTuning(4 * gibibyte).effective_cache_size).toBe('3072MB');
  });
});
