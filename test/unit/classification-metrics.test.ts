import { expect } from 'chai';
import { classificationQuality, wilsonInterval } from '../../pipeline/util/classification-metrics.js';

describe('classification metrics', () => {
  it('computes the confusion matrix, per-class figures, log loss and calibration error', () => {
    // Prepare: 3 bicycles (2 right), 2 motorcycles (1 right).
    const predictions = [
      { label: 0, probabilities: [0.9, 0.1] },
      { label: 0, probabilities: [0.7, 0.3] },
      { label: 0, probabilities: [0.2, 0.8] },
      { label: 1, probabilities: [0.4, 0.6] },
      { label: 1, probabilities: [0.55, 0.45] },
    ];
    // Act
    const quality = classificationQuality(predictions, ['bicycle', 'motorcycle'], 'test', 10);
    // Assess
    expect(quality.confusionMatrix).to.deep.equal([
      [2, 1],
      [1, 1],
    ]);
    expect(quality.accuracy).to.equal(3 / 5);
    const [bicycle, motorcycle] = quality.classes;
    expect(bicycle?.precision).to.be.closeTo(2 / 3, 1e-12);
    expect(bicycle?.recall).to.be.closeTo(2 / 3, 1e-12);
    expect(motorcycle?.support).to.equal(2);
    expect(motorcycle?.f1).to.be.closeTo(0.5, 1e-12);
    const expectedLogLoss =
      -(Math.log(0.9) + Math.log(0.7) + Math.log(0.2) + Math.log(0.6) + Math.log(0.45)) / 5;
    expect(quality.logLoss).to.be.closeTo(expectedLogLoss, 1e-12);
    // Each confidence (0.9, 0.7, 0.8, 0.6, 0.55) falls in a bin of its own: ECE is the mean |hit - confidence|.
    const expectedEce = (0.1 + 0.3 + 0.8 + 0.4 + 0.55) / 5;
    expect(quality.expectedCalibrationError).to.be.closeTo(expectedEce, 1e-12);
  });

  it('gives the Wilson interval, which stays inside [0, 1] at the edges', () => {
    const all = wilsonInterval(30, 30);
    expect(all.high).to.equal(1);
    expect(all.low).to.be.closeTo(0.8865, 1e-3);
    const half = wilsonInterval(100, 200);
    expect(half.low).to.be.closeTo(0.4314, 1e-3);
    expect(half.high).to.be.closeTo(0.5686, 1e-3);
  });

  it('refuses a label outside the classes, naming it', () => {
    expect(() =>
      classificationQuality([{ label: 2, probabilities: [0.5, 0.5] }], ['a', 'b'], 'test'),
    ).to.throw(/label 2 is outside 0..1/);
  });
});
