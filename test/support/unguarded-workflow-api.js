// The workflow API with every patch taken as applied: bundling workflow code against this shows
// what replay would do if a change had been made without its patched() guard.
export * from '@temporalio/workflow/lib/index.js';

export function patched() {
  return true;
}
