import { z } from 'zod';

/**
 * The state machine drawn from its Amazon States Language definition, with per-state counts of the
 * executions that passed, were filtered and failed (what the Step Functions console's graph view shows).
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
  const parsed = definitionSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${where} is not a state machine definition: ${parsed.error.message}`);
  return parsed.data;
}

export interface ExecutionOutcome {
  outcome: 'SUCCEEDED' | 'FILTERED' | 'ERROR';
}

export interface StateCounts {
  name: string;
  type: string;
  passed: number;
  filtered: number;
  failed: number;
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
    for (const next of [
      state.Next,
      state.Default,
      ...(state.Choices ?? []).map((c) => c.Next),
      ...(state.Catch ?? []).map((c) => c.Next),
    ])
      if (next !== undefined) queue.push(next);
  }
  return order;
}

/**
 * Counts per state. A succeeded execution passed every state on the path; a filtered one passed every
 * state before the filter (the state invoking the filter function, which raises ThresholdConfidenceNotMet)
 * and stopped there. Which state an error stopped at is not recorded by the executions document, so
 * errors are counted for the workflow as a whole (`unplacedFailures`), not guessed onto a state.
 */
export function stateCounts(definition: StateMachineDefinition, executions: readonly ExecutionOutcome[]) {
  const order = stateOrder(definition);
  const filterIndex = order.findIndex((name) =>
    /filter/i.test(definition.States[name]?.Parameters?.FunctionName ?? name),
  );
  const succeeded = executions.filter((e) => e.outcome === 'SUCCEEDED').length;
  const filtered = executions.filter((e) => e.outcome === 'FILTERED').length;
  const states: StateCounts[] = order.map((name, index) => ({
    name,
    type: definition.States[name]?.Type ?? 'unknown',
    passed: succeeded + (filterIndex >= 0 && index < filterIndex ? filtered : 0),
    filtered: index === filterIndex ? filtered : 0,
    failed: 0,
  }));
  return { states, unplacedFailures: executions.filter((e) => e.outcome === 'ERROR').length };
}

const BOX = { width: 300, height: 58, gap: 34 };
const WIDTH = 420;

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** An SVG of the graph: start, one box per state with its counts, end; arrows for every transition. */
export function workflowSvg(
  definition: StateMachineDefinition,
  counts: ReturnType<typeof stateCounts>,
): string {
  const order = counts.states.map((s) => s.name);
  const x = (WIDTH - BOX.width) / 2;
  const top = (index: number) => 50 + index * (BOX.height + BOX.gap);
  const endY = top(order.length) + 14;
  const height = endY + 60;
  const parts: string[] = [
    `<circle cx="${WIDTH / 2}" cy="20" r="12" fill="#444"/><text x="${WIDTH / 2 + 20}" y="24" class="label">Start</text>`,
    arrow(WIDTH / 2, 32, WIDTH / 2, top(0)),
  ];
  counts.states.forEach((state, index) => {
    const y = top(index);
    const colour = state.failed > 0 ? '#fde2e1' : state.filtered > 0 ? '#fff4d6' : '#e3f4e8';
    parts.push(
      `<g class="state" data-state="${escapeXml(state.name)}"><rect x="${x}" y="${y}" width="${BOX.width}" height="${BOX.height}" rx="8" fill="${colour}" stroke="#555"/>`,
      `<text x="${WIDTH / 2}" y="${y + 22}" text-anchor="middle" class="name">${escapeXml(state.name)} (${escapeXml(state.type)})</text>`,
      `<text x="${WIDTH / 2}" y="${y + 44}" text-anchor="middle" class="counts">passed ${state.passed} · filtered ${state.filtered} · failed ${state.failed}</text></g>`,
    );
    const stateDef = definition.States[state.name];
    const next = stateDef?.Next === undefined ? undefined : order.indexOf(stateDef.Next);
    if (next !== undefined && next > index)
      parts.push(arrow(WIDTH / 2, y + BOX.height, WIDTH / 2, top(next)));
    if (stateDef?.End === true) parts.push(arrow(WIDTH / 2, y + BOX.height, WIDTH / 2, endY - 12));
  });
  parts.push(
    `<circle cx="${WIDTH / 2}" cy="${endY}" r="12" fill="none" stroke="#444" stroke-width="3"/><text x="${WIDTH / 2 + 20}" y="${endY + 4}" class="label">End</text>`,
    `<text x="${WIDTH / 2}" y="${endY + 40}" text-anchor="middle" class="counts">${counts.unplacedFailures} executions failed (state not recorded)</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" class="workflow" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="state machine graph">
<defs><marker id="arrowhead" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>
<style>text{font-family:'DejaVu Sans',sans-serif;fill:#222}.name{font-size:14px;font-weight:bold}.counts,.label{font-size:12px}</style>
${parts.join('\n')}
</svg>`;
}

function arrow(x1: number, y1: number, x2: number, y2: number): string {
  return `<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2 - 2}" stroke="#555" stroke-width="1.5" marker-end="url(#arrowhead)"/>`;
}
