/** Activities of the control worker: planning, database-level work and bookkeeping. */
export { resolveModulePlan } from './plan.js';
export { configureDatabase } from './database.js';
export { recordOutcome, forgetModule } from './outcomes.js';
