import { expect } from 'chai';
import {
  chiSquareHomogeneity,
  continuousDrift,
  countByEdges,
  describeDrift,
  quantileEdges,
} from '../../pipeline/report/drift.js';
import { seededRandom } from '../../pipeline/util/random.js';

function draws(count: number, seed: number, shift = 0): number[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => Math.min(1, random() * 0.5 + 0.5 + shift));
}

describe('report drift (chi-square test of homogeneity)', () => {
  it('computes the statistic and p-value of a 2 x 2 table as the textbook does', () => {
    // Prepare: baseline 50/50, window 70/30. Expected counts: 60/40 in each row of 100.
    // chi2 = 2 * (10^2/60 + 10^2/40) = 8.3333; df 1; p = P(chi2_1 > 8.3333) = 0.003892 (chi-square table).
    const test = chiSquareHomogeneity(['a', 'b'], [50, 50], [70, 30]);
    expect(test.statistic).to.be.closeTo(8.3333, 1e-4);
    expect(test.degreesOfFreedom).to.equal(1);
    expect(test.pValue).to.be.closeTo(0.003892, 1e-5);
    expect(test.verdict).to.equal('warn');
  });

  it('a shift of 30 records that PSI calls moderate drift (> 0.1) is within chance for the chi-square test', () => {
    // Prepare: 50/50 baseline, a window of 20/10. PSI = sum (a - e) ln(a / e) = 0.1155, over the usual 0.1.
    const psi = (2 / 3 - 0.5) * Math.log(2 / 3 / 0.5) + (1 / 3 - 0.5) * Math.log(1 / 3 / 0.5);
    expect(psi).to.be.greaterThan(0.1);
    // Act
    const test = chiSquareHomogeneity(['a', 'b'], [500, 500], [20, 10]);
    // Assess: p is about 0.08, not under 0.01.
    expect(test.pValue).to.be.within(0.05, 0.12);
    expect(test.verdict).to.equal('pass');
  });

  it('says "too few records to judge" below the minimum window', () => {
    const test = chiSquareHomogeneity(['a', 'b', 'c'], [100, 100, 100], [3, 3, 2]);
    expect(test.verdict).to.equal('too-few');
    expect(test.minimumWindow).to.equal(15);
    expect(describeDrift('predicted class', test)).to.match(
      /^too few records to judge predicted class \(8 in the window/,
    );
  });

  it('bins continuous figures at the baseline deciles: same distribution passes, a shifted one is drift', () => {
    const baseline = draws(1000, 1);
    const edges = quantileEdges(baseline);
    expect(edges).to.have.length(9);
    expect(countByEdges(baseline, edges).every((c) => c >= 95 && c <= 105)).to.equal(true);
    expect(continuousDrift(baseline, draws(200, 2)).verdict).to.equal('pass');
    const shifted = continuousDrift(baseline, draws(200, 3, 0.15));
    expect(shifted.verdict).to.equal('warn');
    expect(shifted.bins.map((b) => b.baseline + b.window)).to.have.length(10);
  });

  it('judges a small window with fewer quantile bins, and a constant figure by whether the window leaves it', () => {
    const baseline = draws(1000, 4);
    const small = continuousDrift(baseline, draws(30, 5));
    expect(small.bins).to.have.length(6);
    expect(small.verdict).to.equal('pass');
    expect(continuousDrift(baseline, draws(9, 6)).verdict).to.equal('too-few');
    // A small baseline (20 validation predictions) against a large window: as few bins as the baseline
    // fills, so a shift is still judged (deciles would leave 2 baseline records a bin: too few).
    const smallBaseline = continuousDrift(draws(20, 7), draws(210, 8, 0.2));
    expect(smallBaseline.bins).to.have.length(4);
    expect(smallBaseline.verdict).to.equal('warn');
    expect(continuousDrift(draws(20, 7), draws(210, 9)).verdict).to.equal('pass');
    const sizes = new Array<number>(300).fill(1024);
    expect(continuousDrift(sizes, new Array<number>(30).fill(1024)).verdict).to.equal('pass');
    const resized = continuousDrift(sizes, [
      ...new Array<number>(20).fill(1024),
      ...new Array<number>(10).fill(4096),
    ]);
    expect(resized.verdict).to.equal('warn');
  });
});
