/**
 * Search attributes every dbplane workflow carries, so the Temporal UI can filter by module, host
 * and operation. Importable from workflow code: it holds no I/O.
 */
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';

export const moduleKey = defineSearchAttributeKey('DbplaneModule', SearchAttributeType.KEYWORD);
export const hostKey = defineSearchAttributeKey('DbplaneHost', SearchAttributeType.KEYWORD);
export const operationKey = defineSearchAttributeKey('DbplaneOperation', SearchAttributeType.KEYWORD);

export const searchAttributeNames = ['DbplaneModule', 'DbplaneHost', 'DbplaneOperation'] as const;

/** The attributes of one operation on one module. */
export function operationAttributes(module: string, operation: string, host?: string): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [
    { key: moduleKey, value: module },
    { key: operationKey, value: operation },
  ];
  if (host) pairs.push({ key: hostKey, value: host });
  return pairs;
}
