import type { MonitorReportRequest } from '../ports.js';
import type { StateMachineDefinition } from './workflow-graph.js';

/** What the report says about the model and run beside the capture itself. */
export type ReportContext = Pick<
  MonitorReportRequest,
  'classes' | 'header' | 'evaluation' | 'executions' | 'cost'
> & {
  stateMachine?: StateMachineDefinition;
  /** Filled by writeReport. */
  workflowSvg?: string;
};
