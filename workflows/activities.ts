/**
 * Activity proxies, declared once. Control activities run on the control worker; host
 * activities on the task queue of the host that owns the module's volume.
 */
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';

import type * as controlActivities from '../activities/control/index.js';
import type * as hostActivities from '../activities/host/index.js';
import { nonRetryableErrorTypes } from '../lib/errors.js';
import { controlTaskQueue } from '../lib/task-queues.js';

/** Reading the spec and writing the catalog: quick, retried a few times. */
export const control = proxyActivities<typeof controlActivities>({
  taskQueue: controlTaskQueue,
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '60 seconds',
  retry: { maximumAttempts: 5, initialInterval: '1 second', nonRetryableErrorTypes },
});

/** Short host work: volumes, secrets, containers. */
export function hostSteps(taskQueue: string) {
  return proxyActivities<typeof hostActivities>({
    taskQueue,
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: '30 seconds',
    retry: { maximumAttempts: 5, initialInterval: '2 seconds', nonRetryableErrorTypes },
  });
}

/** Long host work that heartbeats: snapshots, restic, restores. A dead worker is noticed in 20 s. */
export function hostLongSteps(taskQueue: string) {
  return proxyActivities<typeof hostActivities>({
    taskQueue,
    startToCloseTimeout: '4 hours',
    heartbeatTimeout: '20 seconds',
    // Cleanup after a cancelled step must not start until the step has stopped its tools.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      maximumAttempts: 10,
      initialInterval: '2 seconds',
      maximumInterval: '1 minute',
      nonRetryableErrorTypes,
    },
  });
}
