/** Every workflow type the control worker runs. Workflow code imports no I/O: see activities/. */
export { provisionModule } from './provision-module.js';
export { backupModule } from './backup-module.js';
export { restoreCheck } from './restore-check.js';
export { progressQuery } from './progress.js';
