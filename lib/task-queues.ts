/** The control worker's task queue; each host agent has its own, named in the spec. */
export const controlTaskQueue = 'dbplane-control';
