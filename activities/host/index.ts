/** Activities of a host agent: work on the volumes, containers and repositories this host owns. */
export {
  prepareVolume,
  destroyVolume,
  createSecrets,
  deleteSecrets,
  initializeDataDirectory,
  startModuleContainer,
  removeModuleContainer,
} from './provision.js';
export { takeSnapshot, releaseSnapshot } from './snapshot.js';
export { backupSnapshot, applyRetention, checkRepository } from './backup.js';
export { restoreSnapshot, verifyRestore, discardRestore } from './restore.js';
