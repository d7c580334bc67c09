import { z } from 'zod';
import type { CaseResult } from '../contracts/test-executions.js';
import { parseJson } from '../util/json.js';

/**
 * The state machine drawn from its Amazon States Language definition, with per-state counts of the
 * executions that passed, were filtered and failed (what the Step Functions console's graph view shows),
 * each stopped execution on the state its executions document records.
 */

const stateSchema = z.looseObject({
  Type: z.string(),
  Next: z.string().optional(),
  End: z.boolean().optional(),
  Default: z.string().optional(),
  Choices: z.array(z.looseObject({ Next: z.string() })).optional(),
  Catch: z.array(z.looseObject({ Next: z.string() })).optional(),
  Parameters: z.looseObject({ FunctionName: z.string().optional() }).optional(),
});
const definitionSchema = z.object({ StartAt: z.string(), States: z.record(z.string(), stateSchema) });
export type StateMachineDefinition = z.infer<typeof definitionSchema>;

export function parseDefinition(text: string, where: string): StateMachineDefinition {
  return parseJson(text, definitionSchema, where, 'a state machine definition', 'deploy again');
}

/** What the graph needs of an execution: how it ended and, when recorded, the state it stopped in. */
type ExecutionOutcome = Pick<CaseResult, 'outcome' | 'failedState'>;

export interface StateCounts {
  name: string;
  type: string;
  passed: number;
  filtered: number;
  failed: number;
}

export interface WorkflowCounts {
  states: StateCounts[];
  /** Failed executions whose document does not record the state they stopped in (written before it was). */
  unplacedFailures: number;
  /** Executions recorded as stopping in a state this definition does not have (renamed, or nested), by name. */
  outsideDefinition: Record<string, number>;
}

/** States in the order executions reach them from StartAt (breadth first over Next, Choices, Default, Catch). */
export function stateOrder(definition: StateMachineDefinition): string[] {
  const order: string[] = [];
  const queue = [definition.StartAt];
  while (queue.length > 0) {
    const name = queue.shift() as string;
    const state = definition.States[name];
    if (state === undefined || order.includes(name)) continue;
    order.push(name);
    queue.push(...successors(state));
  }
  return order;
}

function successors(state: StateMachineDefinition['States'][string]): string[] {
  return [
    state.Next,
    state.Default,
    ...(state.Choices ?? []).map((c) => c.Next),
    ...(state.Catch ?? []).map((c) => c.Next),
  ].filter((next): next is string => next !== undefined);
}

/**
 * The states every path from StartAt to `target` goes through (its dominators, itself left out): an
 * execution that stopped in `target` certainly passed them. On a definition without branches, every state
 * before it.
 */
export function statesBefore(definition: StateMachineDefinition, target: string): string[] {
  const reachableWithout = (removed: string): boolean => {
    const seen = new Set<string>();
    const queue = removed === definition.StartAt ? [] : [definition.StartAt];
    while (queue.length > 0) {
      const name = queue.shift() as string;
      if (name === target) return true;
      const state = definition.States[name];
      if (seen.has(name) || state === undefined) continue;
      seen.add(name);
      queue.push(...successors(state).filter((next) => next !== removed));
    }
    return false;
  };
  return stateOrder(definition).filter((name) => name !== target && !reachableWithout(name));
}

/**
 * Counts per state. A succeeded execution passed every state on the path. One that stopped (filtered or
 * failed) is counted on the state its document records, having passed the states before it. A filtered
 * execution without a recorded state stopped at the state invoking the filter function (the one raising
 * ThresholdConfidenceNotMet); a failed one without it is not guessed onto a state: `unplacedFailures`.
 */
export function stateCounts(
  definition: StateMachineDefinition,
  executions: readonly ExecutionOutcome[],
): WorkflowCounts {
  const order = stateOrder(definition);
  const filterState = order.find((name) =>
    /filter/i.test(definition.States[name]?.Parameters?.FunctionName ?? name),
  );
  const states = new Map<string, StateCounts>(
    order.map((name) => [
      name,
      { name, type: definition.States[name]?.Type ?? 'unknown', passed: 0, filtered: 0, failed: 0 },
    ]),
  );
  let unplacedFailures = 0;
  const outsideDefinition: Record<string, number> = {};
  for (const execution of executions) {
    if (execution.outcome === 'SUCCEEDED') {
      for (const counts of states.values()) counts.passed++;
      continue;
    }
    const stoppedIn = execution.failedState ?? (execution.outcome === 'FILTERED' ? filterState : undefined);
    const counts = stoppedIn === undefined ? undefined : states.get(stoppedIn);
    if (stoppedIn === undefined) unplacedFailures++;
    else if (counts === undefined) outsideDefinition[stoppedIn] = (outsideDefinition[stoppedIn] ?? 0) + 1;
    else {
      if (execution.outcome === 'FILTERED') counts.filtered++;
      else counts.failed++;
      for (const name of statesBefore(definition, stoppedIn)) (states.get(name) as StateCounts).passed++;
    }
  }
  return { states: [...states.values()], unplacedFailures, outsideDefinition };
}

const BOX = { width: 300, height: 58, gap: 34 };
const WIDTH = 420;

/** Text safe inside HTML or SVG, in elements and in quoted attributes. */
export function escapeMarkup(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** What the counts leave off the graph, in words; empty when every execution is on a state. */
export function unplacedNotes(counts: WorkflowCounts): string[] {
  return [
    ...(counts.unplacedFailures === 0 ? [] : [`${counts.unplacedFailures} failed in a state not recorded`]),
    ...Object.entries(counts.outsideDefinition).map(
      ([name, count]) => `${count} stopped in ${name} (not in this definition)`,
    ),
  ];
}

/** An SVG of the graph: start, one box per state with its counts, end; arrows for every transition. */
export function workflowSvg(definition: StateMachineDefinition, counts: WorkflowCounts): string {
  const order = counts.states.map((s) => s.name);
  const x = (WIDTH - BOX.width) / 2;
  const top = (index: number) => 50 + index * (BOX.height + BOX.gap);
  const endY = top(order.length) + 14;
  const notes = unplacedNotes(counts);
  const height = endY + 30 + notes.length * 18;
  const parts: string[] = [
    `<circle cx="${WIDTH / 2}" cy="20" r="12" fill="#444"/><text x="${WIDTH / 2 + 20}" y="24" class="label">Start</text>`,
    arrow(WIDTH / 2, 32, WIDTH / 2, top(0)),
  ];
  counts.states.forEach((state, index) => {
    const y = top(index);
    const [fill, stroke] =
      state.failed > 0
        ? ['#fde2e1', '#c62828']
        : state.filtered > 0
          ? ['#fff4d6', '#555']
          : ['#e3f4e8', '#555'];
    parts.push(
      `<g class="state${state.failed > 0 ? ' failed' : ''}" data-state="${escapeMarkup(state.name)}" data-failed="${state.failed}"><rect x="${x}" y="${y}" width="${BOX.width}" height="${BOX.height}" rx="8" fill="${fill}" stroke="${stroke}" stroke-width="${state.failed > 0 ? 2 : 1}"/>`,
      `<text x="${WIDTH / 2}" y="${y + 22}" text-anchor="middle" class="name">${escapeMarkup(state.name)} (${escapeMarkup(state.type)})</text>`,
      `<text x="${WIDTH / 2}" y="${y + 44}" text-anchor="middle" class="counts">passed ${state.passed} · filtered ${state.filtered} · ${state.failed > 0 ? `<tspan class="failed-count">failed ${state.failed}</tspan>` : 'failed 0'}</text></g>`,
    );
    const stateDef = definition.States[state.name];
    const next = stateDef?.Next === undefined ? undefined : order.indexOf(stateDef.Next);
    if (next !== undefined && next > index)
      parts.push(arrow(WIDTH / 2, y + BOX.height, WIDTH / 2, top(next)));
    if (stateDef?.End === true) parts.push(arrow(WIDTH / 2, y + BOX.height, WIDTH / 2, endY - 12));
  });
  parts.push(
    `<circle cx="${WIDTH / 2}" cy="${endY}" r="12" fill="none" stroke="#444" stroke-width="3"/><text x="${WIDTH / 2 + 20}" y="${endY + 4}" class="label">End</text>`,
    ...notes.map(
      (note, i) =>
        `<text x="${WIDTH / 2}" y="${endY + 40 + i * 18}" text-anchor="middle" class="counts unplaced">${escapeMarkup(note)}</text>`,
    ),
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" class="workflow" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="state machine graph">
<defs><marker id="arrowhead" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>
<style>text{font-family:'DejaVu Sans',sans-serif;fill:#222}.name{font-size:14px;font-weight:bold}.counts,.label{font-size:12px}.failed-count{fill:#c62828;font-weight:bold}</style>
${parts.join('\n')}
</svg>`;
}

function arrow(x1: number, y1: number, x2: number, y2: number): string {
  return `<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2 - 2}" stroke="#555" stroke-width="1.5" marker-end="url(#arrowhead)"/>`;
}
