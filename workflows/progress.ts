/**
 * Progress of a running workflow, exposed as the `progress` query for the CLI and the UI.
 */
import { defineQuery, setHandler } from '@temporalio/workflow';

export type StepStatus = 'pending' | 'running' | 'done' | 'failed' | 'undone';

export interface StepProgress {
  name: string;
  status: StepStatus;
  seconds?: number;
}

export interface Progress {
  operation: string;
  module: string;
  phase: string;
  steps: StepProgress[];
}

export const progressQuery = defineQuery<Progress>('progress');

/** Tracks named steps and answers the progress query with their state. */
export class ProgressTracker {
  private readonly progress: Progress;
  private readonly startedAt = new Map<string, number>();

  constructor(operation: string, module: string, stepNames: string[]) {
    this.progress = {
      operation,
      module,
      phase: 'starting',
      steps: stepNames.map((name) => ({ name, status: 'pending' })),
    };
    setHandler(progressQuery, () => this.progress);
  }

  /** Runs one named step, recording when it ran and how it ended. */
  async step<T>(name: string, run: () => Promise<T>): Promise<T> {
    const step = this.find(name);
    step.status = 'running';
    this.progress.phase = name;
    this.startedAt.set(name, Date.now());
    try {
      const result = await run();
      step.status = 'done';
      return result;
    } catch (error) {
      step.status = 'failed';
      throw error;
    } finally {
      step.seconds = (Date.now() - (this.startedAt.get(name) ?? Date.now())) / 1000;
    }
  }

  mark(name: string, status: StepStatus): void {
    this.find(name).status = status;
  }

  finish(phase: string): void {
    this.progress.phase = phase;
  }

  private find(name: string): StepProgress {
    let step = this.progress.steps.find((candidate) => candidate.name === name);
    if (!step) {
      step = { name, status: 'pending' };
      this.progress.steps.push(step);
    }
    return step;
  }
}
