/** Exit codes of the dbplane command, so scripts can tell failures apart. */
export const exitCodes = {
  ok: 0,
  /** An operation ran and failed (a backup, a restore check, a provisioning). */
  operationFailed: 1,
  /** The command line, the spec or a module name is wrong: nothing was started. */
  badInput: 2,
  /** Temporal or a worker could not be reached. */
  unavailable: 3,
  /** Stopped by Ctrl-C. */
  interrupted: 130,
} as const;
