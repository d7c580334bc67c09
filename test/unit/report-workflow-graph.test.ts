import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { timeAxis } from '../../pipeline/report/time-axis.js';
import {
  parseDefinition,
  stateCounts,
  stateOrder,
  statesBefore,
  workflowSvg,
} from '../../pipeline/report/workflow-graph.js';
import { STATE_MACHINE_DEFINITION } from '../../pipeline/templates/template.js';

const definition = parseDefinition(readFileSync(STATE_MACHINE_DEFINITION, 'utf8'), STATE_MACHINE_DEFINITION);

describe('report workflow graph', () => {
  it('orders the states of our definition as executions reach them', () => {
    expect(stateOrder(definition)).to.deep.equal(['SerializeImageData', 'ClassifyImage', 'FilterInferences']);
  });

  it('counts passed, filtered and failed per state from the executions (a document without failedState)', () => {
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
    expect(svg).to.include('1 failed in a state not recorded');
    expect(svg.match(/marker-end/g)).to.have.length(4);
  });

  it('places each failed execution on the state it stopped in, red, having passed the states before it', () => {
    // Prepare: 5 succeeded, 2 filtered (one with its state recorded), 2 failed in ClassifyImage, 1 in
    // SerializeImageData
    const executions = [
      ...Array.from({ length: 5 }, () => ({ outcome: 'SUCCEEDED' as const })),
      { outcome: 'FILTERED' as const, failedState: 'FilterInferences' },
      { outcome: 'FILTERED' as const },
      { outcome: 'ERROR' as const, failedState: 'ClassifyImage' },
      { outcome: 'ERROR' as const, failedState: 'ClassifyImage' },
      { outcome: 'ERROR' as const, failedState: 'SerializeImageData' },
    ];
    // Act
    const counts = stateCounts(definition, executions);
    const svg = workflowSvg(definition, counts);
    // Assess
    expect(counts.states.map((s) => [s.name, s.passed, s.filtered, s.failed])).to.deep.equal([
      ['SerializeImageData', 9, 0, 1],
      ['ClassifyImage', 7, 0, 2],
      ['FilterInferences', 5, 2, 0],
    ]);
    expect(counts.unplacedFailures).to.equal(0);
    expect(counts.outsideDefinition).to.deep.equal({});
    // One state's box: its <g> element.
    const box = (name: string) =>
      svg.split('</g>').find((part) => part.includes(`data-state="${name}"`)) ?? '';
    expect(box('ClassifyImage')).to.include('class="state failed"').and.include('stroke="#c62828"');
    expect(box('ClassifyImage')).to.include('<tspan class="failed-count">failed 2</tspan>');
    expect(box('FilterInferences')).to.include('failed 0');
    expect(box('FilterInferences')).to.not.include('failed-count');
    expect(svg).to.not.include('not recorded');
  });

  it('names a recorded state the definition lacks instead of placing it, and keeps unplaced only the unrecorded', () => {
    const counts = stateCounts(definition, [
      { outcome: 'ERROR', failedState: 'ResizeImage' },
      { outcome: 'ERROR' },
    ]);
    expect(counts.outsideDefinition).to.deep.equal({ ResizeImage: 1 });
    expect(counts.unplacedFailures).to.equal(1);
    expect(counts.states.every((s) => s.failed === 0 && s.passed === 0)).to.equal(true);
    const svg = workflowSvg(definition, counts);
    expect(svg).to.include('1 stopped in ResizeImage (not in this definition)');
  });

  it('a state stopped in was reached through the states every path to it takes, not the branches beside it', () => {
    const branching = parseDefinition(
      JSON.stringify({
        StartAt: 'A',
        States: {
          A: { Type: 'Pass', Next: 'Choose' },
          Choose: { Type: 'Choice', Choices: [{ Next: 'Left' }], Default: 'Right' },
          Left: { Type: 'Pass', Next: 'Join' },
          Right: { Type: 'Pass', Next: 'Join' },
          Join: { Type: 'Task', End: true },
        },
      }),
      'branching',
    );
    expect(statesBefore(branching, 'Join')).to.deep.equal(['A', 'Choose']);
    expect(statesBefore(branching, 'Left')).to.deep.equal(['A', 'Choose']);
    expect(statesBefore(branching, 'A')).to.deep.equal([]);
    expect(statesBefore(definition, 'FilterInferences')).to.deep.equal([
      'SerializeImageData',
      'ClassifyImage',
    ]);
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
