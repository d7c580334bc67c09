import type { EvaluationRecord } from '../contracts/evaluation.js';
import type { RunCost } from '../util/run-cost.js';
import type { StateMachineDefinition } from './workflow-graph.js';

/** What the report says about the model and run beside the capture itself. */
export interface ReportContext {
  classes: readonly string[];
  header: {
    trainingId?: string;
    trainer?: string;
    datasetDigest?: string;
    trainedAt?: string;
    endpoint?: string;
    /** Where the threshold came from: the deployment, or the configuration when the deployment has none. */
    thresholdSource: string;
    runId: string;
    source: string;
  };
  /** The model's held-out evaluation, drawn beside the executions' quality. */
  evaluation?: EvaluationRecord;
  executions?: readonly {
    name: string;
    s3Key: string;
    label: number;
    predicted?: number;
    confidence?: number;
    outcome: 'SUCCEEDED' | 'FILTERED' | 'ERROR';
    error?: string;
    /** The state it stopped in, when the document records it. */
    failedState?: string;
    durationMs: number;
  }[];
  stateMachine?: StateMachineDefinition;
  /** What the run cost on AWS (or would cost there), for a report on a pipeline run. */
  cost?: RunCost;
  /** Filled by writeReport. */
  workflowSvg?: string;
}
