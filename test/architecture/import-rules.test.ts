import { expect } from 'chai';
import { cycles, importEdges, violations } from '../helpers/import-graph.js';

describe('import rules (docs/code-map.md)', () => {
  const edges = importEdges(['pipeline', 'lambdas']);

  it('reads the import graph (a stage importing its context is an edge)', () => {
    expect(edges).to.deep.include({ from: 'pipeline/stages/train.ts', to: 'pipeline/stages/context.ts' });
  });

  it('every import keeps the rules', () => {
    expect(violations(edges)).to.deep.equal([]);
  });

  it('has no import cycle', () => {
    expect(cycles(edges).map((cycle) => cycle.join(' -> '))).to.deep.equal([]);
  });

  it('fails on a forbidden import (a stage importing the aws backend)', () => {
    const broken = [...edges, { from: 'pipeline/stages/train.ts', to: 'pipeline/backends/aws/index.ts' }];
    expect(violations(broken)).to.have.length(violations(edges).length + 1);
  });

  it('fails on a stage reaching past ports, contracts and util (evaluate importing the report, train reading files)', () => {
    const broken = [
      ...edges,
      { from: 'pipeline/stages/evaluate.ts', to: 'pipeline/report/report.ts' },
      { from: 'pipeline/stages/train.ts', to: 'node:fs' },
    ];
    expect(violations(broken)).to.have.length(violations(edges).length + 2);
  });
});
