/**
 * Structured logs: one JSON object a line on stderr, with the same keys on every line so that
 * lines from the CLI, the workers and the activities can be filtered together.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const levelOrder: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function configuredLevel(): LogLevel {
  const value = process.env.DBPLANE_LOG_LEVEL;
  return value === 'debug' || value === 'warn' || value === 'error' ? value : 'info';
}

function errorFields(fields: LogFields): LogFields {
  const result: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    result[key] = value instanceof Error ? { type: value.name, message: value.message } : value;
  }
  return result;
}

/** Creates a logger whose every line carries the given fields. */
export function createLogger(component: string, base: LogFields = {}): Logger {
  const minimum = levelOrder[configuredLevel()];
  const write = (level: LogLevel, message: string, fields: LogFields = {}) => {
    if (levelOrder[level] < minimum) return;
    const line = {
      time: new Date().toISOString(),
      level,
      component,
      message,
      ...errorFields(base),
      ...errorFields(fields),
    };
    process.stderr.write(`${JSON.stringify(line)}\n`);
  };
  return {
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
    child: (fields) => createLogger(component, { ...base, ...fields }),
  };
}
