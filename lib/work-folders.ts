import path from 'node:path';

import { ValidationError } from './errors.js';

/**
 * A folder named by an id under a parent, e.g. one snapshot's or one restore's. The id must be
 * safe as a single path segment, so no id can reach outside the parent.
 */
export function workFolder(parent: string, field: string, id: string): string {
  if (!/^[A-Za-z0-9-]{1,80}$/.test(id)) {
    throw new ValidationError(field, 'letters, digits and dashes (at most 80)', JSON.stringify(id));
  }
  return path.join(parent, id);
}
