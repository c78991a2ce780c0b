import { readConfig } from '../../lib/config.js';
import { loadSpecFile } from '../../lib/spec/load.js';
import { planModule, type ModulePlan } from '../../lib/spec/plan.js';

export interface ModuleInput {
  module: string;
}

/** Reads the spec as it is now and resolves one module into a plan; bad input fails for good. */
export async function resolveModulePlan(input: ModuleInput): Promise<ModulePlan> {
  const { spec, directory } = loadSpecFile(readConfig().specFile);
  return planModule(spec, directory, input?.module);
}
