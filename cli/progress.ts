/**
 * Shows a running workflow's progress: a bar on a terminal, one line per phase otherwise. It
 * reads the workflow's progress query and the heartbeat details of its running activity.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';

import type { Progress } from '../workflows/progress.js';

const pollMilliseconds = 500;
const barWidth = 24;

interface Heartbeat {
  phase?: string;
  /** 0 to 100. */
  percent?: number;
}

async function currentHeartbeat(handle: WorkflowHandle): Promise<Heartbeat | undefined> {
  const description = await handle.describe();
  const pending = description.raw.pendingActivities?.[0];
  const payload = pending?.heartbeatDetails?.payloads?.[0];
  if (!payload) return undefined;
  const value = defaultPayloadConverter.fromPayload(payload as never);
  return typeof value === 'object' && value !== null ? (value as Heartbeat) : undefined;
}

function render(progress: Progress, heartbeat: Heartbeat | undefined): string {
  const done = progress.steps.filter((step) => step.status === 'done').length;
  const total = progress.steps.length;
  const fraction = Math.min(1, (done + (heartbeat?.percent ?? 0) / 100) / total);
  const filled = Math.round(fraction * barWidth);
  const bar = `${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}`;
  const detail = heartbeat?.phase
    ? ` (${heartbeat.phase}${heartbeat.percent !== undefined ? ` ${Math.round(heartbeat.percent)}%` : ''})`
    : '';
  return `${progress.operation} ${progress.module} [${bar}] ${done}/${total} ${progress.phase}${detail}`;
}

/** Follows the workflow until its result is in, then resolves with that result. */
export async function followProgress<T>(handle: WorkflowHandle, quiet: boolean): Promise<T> {
  const result = handle.result() as Promise<T>;
  if (quiet) return await result;

  const terminal = process.stderr.isTTY;
  let finished = false;
  let lastLine = '';
  const watch = (async () => {
    while (!finished) {
      try {
        const progress = await handle.query<Progress>('progress');
        const heartbeat = await currentHeartbeat(handle).catch(() => undefined);
        const line = render(progress, heartbeat);
        if (terminal) process.stderr.write(`\r\x1b[2K${line}`);
        else if (progress.phase !== lastLine) process.stderr.write(`${line}\n`);
        lastLine = terminal ? line : progress.phase;
      } catch {
        // The workflow may not have run its first task yet; the next poll tries again.
      }
      await new Promise((resolve) => setTimeout(resolve, pollMilliseconds));
    }
  })();
  try {
    return await result;
  } finally {
    finished = true;
    await watch;
    if (terminal) process.stderr.write('\n');
  }
}
