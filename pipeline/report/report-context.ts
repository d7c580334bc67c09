import type { EvaluationRecord } from '../contracts/evaluation.js';
import type { CaseResult } from '../contracts/test-executions.js';
import type { ReportHeader } from '../ports.js';
import type { StateMachineDefinition } from './workflow-graph.js';

/** What the report says about the model and run beside the capture itself. */
export interface ReportContext {
  classes: readonly string[];
  header: ReportHeader;
  /** The model's held-out evaluation, drawn beside the executions' quality. */
  evaluation?: EvaluationRecord;
  executions?: readonly CaseResult[];
  stateMachine?: StateMachineDefinition;
  /** Filled by writeReport. */
  workflowSvg?: string;
}
