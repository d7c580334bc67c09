import { expect } from 'chai';
import { decideGate, type GateInput } from '../../pipeline/stages/gate.js';

const base: GateInput = {
  trainingId: 't-new',
  accuracy: 0.86,
  testSplitDigest: 'split-a',
  datasetDigest: 'dataset-a',
  minAccuracy: 0.8,
  maxRegression: 0.01,
  champion: undefined,
  force: false,
};

describe('gate decision', () => {
  const table: [string, Partial<GateInput>, { passed: boolean; forced: boolean; reason: RegExp }][] = [
    [
      'passes above the threshold with no champion',
      {},
      { passed: true, forced: false, reason: /no deployed champion/ },
    ],
    [
      'passes exactly at the threshold',
      { accuracy: 0.8 },
      { passed: true, forced: false, reason: /0\.8000 >= minimum 0\.8000/ },
    ],
    [
      'rejects below the threshold',
      { accuracy: 0.79 },
      { passed: false, forced: false, reason: /below the minimum 0\.8000/ },
    ],
    [
      'passes when within maxRegression of the champion',
      { champion: { trainingId: 't-old', accuracy: 0.87, testSplitDigest: 'split-a' } },
      { passed: true, forced: false, reason: /within 0\.0100 of the champion t-old/ },
    ],
    [
      'passes when better than the champion',
      { champion: { trainingId: 't-old', accuracy: 0.82, testSplitDigest: 'split-a' } },
      { passed: true, forced: false, reason: /within/ },
    ],
    [
      'rejects when worse than the champion by more than maxRegression',
      {
        champion: {
          trainingId: 't-old',
          accuracy: 0.9,
          testSplitDigest: 'split-a',
          datasetDigest: 'dataset-a',
        },
      },
      {
        passed: false,
        forced: false,
        reason:
          /worse than the champion t-old \(0\.9000 on dataset dataset-a, the same test split\) by more than 0\.0100/,
      },
    ],
    [
      'compares with the minimum alone when the champion was evaluated on another test split',
      {
        champion: {
          trainingId: 't-synthetic',
          accuracy: 1,
          testSplitDigest: 'split-b',
          datasetDigest: 'dataset-b',
        },
      },
      {
        passed: true,
        forced: false,
        reason:
          /another test split \(dataset dataset-b, test split split-b; this model: dataset dataset-a, test split split-a\): not comparable/,
      },
    ],
    [
      'compares with the minimum alone when the champion has no recorded test evaluation',
      { champion: { trainingId: 't-old', accuracy: 0.99 } },
      { passed: true, forced: false, reason: /no recorded test evaluation: not comparable/ },
    ],
    [
      'ignores the champion when it is this model',
      { champion: { trainingId: 't-new', accuracy: 0.99 } },
      { passed: true, forced: false, reason: /is the deployed champion/ },
    ],
    [
      'rejects on both counts',
      { accuracy: 0.5, champion: { trainingId: 't-old', accuracy: 0.9, testSplitDigest: 'split-a' } },
      { passed: false, forced: false, reason: /below the minimum/ },
    ],
    [
      'lets --force override a rejection and says so',
      { accuracy: 0.5, force: true },
      { passed: true, forced: true, reason: /forced past the gate/ },
    ],
    [
      'does not mark a passing model as forced',
      { force: true },
      { passed: true, forced: false, reason: /no deployed champion/ },
    ],
  ];
  for (const [name, overrides, expected] of table) {
    it(name, () => {
      const decision = decideGate({ ...base, ...overrides });
      expect(decision.passed).to.equal(expected.passed);
      expect(decision.forced).to.equal(expected.forced);
      expect(decision.reasons.join('\n')).to.match(expected.reason);
    });
  }
});
