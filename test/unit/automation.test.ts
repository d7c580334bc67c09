import { expect } from 'chai';
import { automationAt, chooseThreshold } from '../../pipeline/util/automation.js';
import type { LabelledPrediction } from '../../pipeline/util/classification-metrics.js';

/** `right` correct predictions at `confidence` (two classes, true label 0) and `wrong` incorrect ones. */
function at(confidence: number, right: number, wrong = 0): LabelledPrediction[] {
  return [
    ...Array.from({ length: right }, () => ({ label: 0, probabilities: [confidence, 1 - confidence] })),
    ...Array.from({ length: wrong }, () => ({ label: 1, probabilities: [confidence, 1 - confidence] })),
  ];
}

describe('automation: choosing the threshold from labelled predictions', () => {
  it('keeps predictions at or above the threshold (as the filter Lambda compares) and counts their accuracy', () => {
    const figures = automationAt([...at(0.99, 8), ...at(0.8, 1, 1)], 0.8, 'test');
    expect(figures).to.include({ count: 10, kept: 10, automationRate: 1, keptAccuracy: 0.9 });
    const strict = automationAt([...at(0.99, 8), ...at(0.8, 1, 1)], 0.81, 'test');
    expect(strict).to.include({ kept: 8, automationRate: 0.8, keptAccuracy: 1 });
    expect(strict.keptAccuracyInterval.low).to.be.below(1);
  });

  it('chooses the lowest threshold whose kept accuracy has a one-sided 95% Wilson lower bound at the target', () => {
    // 400 right at 0.99, then 100 at 0.9 with 1 wrong, then 100 at 0.7 with 20 wrong.
    const validation = [...at(0.99, 400), ...at(0.9, 99, 1), ...at(0.7, 80, 20)];
    const choice = chooseThreshold(validation, 0.97);
    // Kept at 0.9: 499/500 (lower bound 0.989); at 0.7: 579/600 = 0.965, under the target.
    expect(choice).to.deep.equal({ chosenThreshold: 0.9, basis: 'wilson-lower-bound' });
  });

  it('certifies with the one-sided bound, not the lower end of the two-sided interval', () => {
    // 600 kept with 8 wrong: both bounds certify 0.99 (one-sided 0.9765, two-sided 0.9739). With 100 more
    // and 5 wrong, 700 with 13 wrong: one-sided 0.9710 certifies 0.6, two-sided 0.9685 would not.
    const predictions = [...at(0.99, 592, 8), ...at(0.6, 95, 5), ...at(0.55, 50, 50)];
    expect(chooseThreshold(predictions, 0.97)).to.deep.equal({
      chosenThreshold: 0.6,
      basis: 'wilson-lower-bound',
    });
  });

  it('falls back to the measured accuracy when the split is too small to certify the target, and says so', () => {
    // 87 images all right certify at most 87 / (87 + 1.645²) = 0.9698 < 0.97.
    const validation = [...at(0.99, 50), ...at(0.8, 37), ...at(0.6, 5, 5)];
    expect(chooseThreshold(validation, 0.97)).to.deep.equal({ chosenThreshold: 0.8, basis: 'measured' });
    expect(chooseThreshold([...validation, ...at(0.8, 1)], 0.97)).to.deep.equal({
      chosenThreshold: 0.8,
      basis: 'wilson-lower-bound',
    });
  });

  it('routes nothing automatically (threshold 1) when no threshold reaches the target', () => {
    expect(chooseThreshold([...at(0.9, 5, 5)], 0.97)).to.deep.equal({
      chosenThreshold: 1,
      basis: 'unreachable',
    });
  });
});
