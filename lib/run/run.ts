import { loadRunState, RUN_STAGES, saveRunState, type RunStage, type RunState, type UploadedInput } from './state.ts';

/** What each stage does; `run` only sequences them and remembers what is done. */
export interface RunStages {
  /** prep piped straight into the TOS upload; returns where the input now is. */
  upload(): Promise<UploadedInput>;
  /** Creates the job (an already active job for the same input counts as created). */
  submit(input: UploadedInput): Promise<string>;
  wait(jobId: string): Promise<void>;
  /** Downloads results and errors; returns the local files. */
  results(jobId: string): Promise<readonly string[]>;
  /** Joins the results back onto the source rows; returns the output path. */
  join(files: readonly string[]): Promise<string>;
}

export interface RunOptions {
  readonly statePath: string;
  readonly key: string;
  readonly stages: RunStages;
  /** Told when a stage starts, and whether it was skipped as already done. */
  readonly onStage?: (stage: RunStage, event: 'start' | 'skip' | 'done') => void;
  /** Stop after this stage (e.g. `results` while join is not wanted). */
  readonly until?: RunStage;
}

/**
 * Runs the stages in order, saving state after each, so that after Ctrl-C or a crash the same
 * command continues from the last finished stage. The job id is saved as soon as the job
 * exists, before waiting, so a rerun never submits a second job for the same input.
 */
export async function runPipeline(options: RunOptions): Promise<RunState> {
  let state = await loadRunState(options.statePath, options.key);
  const save = async (patch: Partial<RunState>, finished?: RunStage) => {
    state = { ...state, ...patch, done: finished ? [...state.done, finished] : state.done };
    await saveRunState(options.statePath, state);
  };
  const { stages } = options;
  const last = options.until ? RUN_STAGES.indexOf(options.until) : RUN_STAGES.length - 1;
  for (const stage of RUN_STAGES.slice(0, last + 1)) {
    if (state.done.includes(stage)) {
      options.onStage?.(stage, 'skip');
      continue;
    }
    options.onStage?.(stage, 'start');
    switch (stage) {
      case 'upload':
        await save({ input: await stages.upload() }, stage);
        break;
      case 'submit':
        await save({ jobId: await stages.submit(state.input!) }, stage);
        break;
      case 'wait':
        await stages.wait(state.jobId!);
        await save({}, stage);
        break;
      case 'results':
        await save({ resultFiles: await stages.results(state.jobId!) }, stage);
        break;
      case 'join':
        await save({ output: await stages.join(state.resultFiles ?? []) }, stage);
        break;
    }
    options.onStage?.(stage, 'done');
  }
  return state;
}
