/**
 * Checks of workflow input, made in the workflow before any activity runs, so that input typed
 * into the Temporal UI fails at once with the field named. Pure: no I/O, safe in the sandbox.
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';

import { ValidationError } from '../lib/errors.js';

export interface FieldRule {
  type: 'string' | 'boolean';
  optional?: boolean;
  pattern?: RegExp;
  /** What the field should look like, for the error. */
  expected: string;
}

function describe(value: unknown): string {
  return value === undefined ? 'nothing' : `${typeof value} ${JSON.stringify(value)}`;
}

function refuse(
  field: string,
  expected: string,
  received: unknown,
  receivedText = describe(received),
): never {
  const error = new ValidationError(field, expected, receivedText);
  throw ApplicationFailure.create({ type: error.name, message: error.message, nonRetryable: true });
}

/** Accepts an input object with exactly the known fields, each of its type; refuses anything else. */
export function checkInput<T>(input: unknown, rules: Record<string, FieldRule>): T {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    refuse('input', 'an object such as {"module": "usersdb"}', input);
  }
  const record = input as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!(key in rules))
      refuse(key, `one of the fields ${Object.keys(rules).join(', ')}`, record[key], 'an unknown field');
  }
  for (const [field, rule] of Object.entries(rules)) {
    const value = record[field];
    if (value === undefined && rule.optional) continue;
    if (typeof value !== rule.type) refuse(field, rule.expected, value);
    if (rule.pattern && !rule.pattern.test(value as string)) refuse(field, rule.expected, value);
  }
  return input as T;
}

export const moduleRule: FieldRule = { type: 'string', expected: 'a module name such as "usersdb"' };

const badInputTypes = ['ValidationError', 'SpecError', 'NotSupportedError'];

/** Whether an activity failed because of its input rather than a fault. */
export function isBadInput(error: unknown): boolean {
  return (
    error instanceof ActivityFailure &&
    error.cause instanceof ApplicationFailure &&
    badInputTypes.includes(error.cause.type ?? '')
  );
}
