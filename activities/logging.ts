import { Context } from '@temporalio/activity';

import { createLogger, type LogFields, type Logger } from '../lib/logger.js';

/** A logger whose lines carry the running activity's identity, with the same keys every time. */
export function activityLogger(fields: LogFields = {}): Logger {
  const info = Context.current().info;
  return createLogger('activity', {
    workflowId: info.workflowExecution?.workflowId,
    runId: info.workflowExecution?.runId,
    activity: info.activityType,
    attempt: info.attempt,
    module: fields.module,
    host: fields.host,
    ...fields,
  });
}
