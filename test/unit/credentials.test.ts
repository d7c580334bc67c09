import { expect } from 'chai';
import { refreshingCredentials } from '../../pipeline/backends/aws/credentials.js';

describe('refreshing AWS credentials', () => {
  it('fetches once, again when close to expiry, and again on refresh()', async () => {
    let fetched = 0;
    let expiration = new Date(Date.now() + 3_600_000);
    const { provider, refresh } = refreshingCredentials(async () => {
      fetched++;
      return { accessKeyId: `AKIA${fetched}`, secretAccessKey: 's', expiration };
    });
    expect((await provider()).accessKeyId).to.equal('AKIA1');
    expect((await provider()).accessKeyId).to.equal('AKIA1');
    await refresh();
    expect((await provider()).accessKeyId).to.equal('AKIA2');
    expiration = new Date(Date.now() + 60_000);
    await refresh();
    expect((await provider()).accessKeyId).to.equal('AKIA4');
    expect(fetched).to.equal(4);
  });
});
