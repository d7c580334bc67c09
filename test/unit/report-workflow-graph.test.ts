import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { timeAxis } from '../../pipeline/report/time-axis.js';
import {
  parseDefinition,
  stateCounts,
  stateOrder,
  workflowSvg,
} from '../../pipeline/report/workflow-graph.js';
import { STATE_MACHINE_DEFINITION } from '../../pipeline/templates/template.js';

const definition = parseDefinition(readFileSync(STATE_MACHINE_DEFINITION, 'utf8'), STATE_MACHINE_DEFINITION);

describe('report workflow graph', () => {
  it('orders the states of our definition as executions reach them', () => {
    expect(stateOrder(definition)).to.deep.equal(['SerializeImageData', 'ClassifyImage', 'FilterInferences']);
  });

  it('counts passed, filtered and failed per state from the executions', () => {
    const executions = [
      ...Array.from({ length: 7 }, () => ({ outcome: 'SUCCEEDED' as const })),
      ...Array.from({ length: 2 }, () => ({ outcome: 'FILTERED' as const })),
      { outcome: 'ERROR' as const },
    ];
    const counts = stateCounts(definition, executions);
    expect(counts.states.map((s) => [s.name, s.passed, s.filtered])).to.deep.equal([
      ['SerializeImageData', 9, 0],
      ['ClassifyImage', 9, 0],
      ['FilterInferences', 7, 2],
    ]);
    expect(counts.unplacedFailures).to.equal(1);
    const svg = workflowSvg(definition, counts);
    expect(svg.match(/<g class="state"/g)).to.have.length(3);
    expect(svg).to.include('passed 7 · filtered 2 · failed 0');
    expect(svg.match(/marker-end/g)).to.have.length(4);
  });

  it('refuses a document that is not a state machine, naming it', () => {
    expect(() => parseDefinition('{"States": 1}', 'x.asl.json')).to.throw(
      /x\.asl\.json is not a state machine/,
    );
  });
});

describe('report time axis', () => {
  it('chooses the unit from the window and names the date', () => {
    const t = Date.parse('2026-11-23T10:00:00Z');
    expect(timeAxis(t, t + 20_000)).to.include({ unit: 'second', format: '%H:%M:%S' });
    expect(timeAxis(t, t + 20_000).title).to.include('2026-11-23');
    expect(timeAxis(t, t + 40 * 60_000).unit).to.equal('minute');
    expect(timeAxis(t, t + 30 * 3_600_000).title).to.include('2026-11-23 to 2026-11-24');
    expect(timeAxis(t, t + 10 * 86_400_000).unit).to.equal('day');
    const instant = timeAxis(t, t);
    expect(instant.domain[1] - instant.domain[0]).to.be.greaterThan(0);
    // Ticks fall on whole units, at most 8, so labels in the unit's format never repeat.
    for (const span of [0, 3_700, 20_000, 40 * 60_000, 30 * 3_600_000, 10 * 86_400_000]) {
      const axis = timeAxis(t, t + span);
      const unitMs = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000 }[axis.unit];
      expect(axis.ticks.length, `span ${span}`).to.be.within(2, 8);
      expect(
        axis.ticks.every((tick) => tick % unitMs === 0),
        `span ${span}`,
      ).to.equal(true);
    }
  });
});
