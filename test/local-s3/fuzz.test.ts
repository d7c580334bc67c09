import { expect } from 'chai';
import { fuzzLocalStore } from './fuzz.js';

describe('local S3 store under random requests (fast-check, fixed seed)', function () {
  this.timeout(120_000);

  it('no file outside its folder is created, changed or removed, no answer is a 500, every object reads back whole', async () => {
    const outcome = await fuzzLocalStore({ seed: 20261123, runs: 150 });
    // The property must have been exercised: requests got past the signature check into the store,
    // and objects were written and read back.
    expect(outcome.requests).to.be.greaterThan(800);
    expect(outcome.statuses['2xx'] ?? 0, JSON.stringify(outcome.statuses)).to.be.greaterThan(100);
    expect(outcome.statuses['4xx'] ?? 0).to.be.greaterThan(30);
    expect(outcome.objectsCheckedWhole).to.be.greaterThan(15);
  });
});
