import { expect } from 'chai';
import { BACKEND_MODULES, backendModule } from '../../pipeline/backends/index.js';
import { BACKENDS } from '../../pipeline/constants.js';
import { parseS3Uri } from '../../pipeline/util/s3-uri.js';
import { captureReporter, testConfig } from '../helpers/workspace.js';

describe('backend registry', () => {
  it('has one entry per backend name, chosen by configuration', async () => {
    expect(Object.keys(BACKEND_MODULES).sort()).to.deep.equal([...BACKENDS].sort());
    const { awsBackend } = await import('../../pipeline/backends/aws/index.js');
    const { localBackend } = await import('../../pipeline/backends/local/index.js');
    expect(await backendModule(testConfig({ backend: 'aws' }))).to.equal(awsBackend);
    expect(await backendModule(testConfig({}))).to.equal(localBackend);
  });

  it('serve and the work-directory lock are local capabilities only', async () => {
    const [local, aws] = [await BACKEND_MODULES.local(), await BACKEND_MODULES.aws()];
    expect(local.serve).to.be.a('function');
    expect(local.lockWorkDir).to.be.a('function');
    expect(aws.serve).to.equal(undefined);
    expect(aws.lockWorkDir).to.equal(undefined);
  });

  it('the local bootstrap creates nothing and says so; the aws teardown plan names the stacks', async () => {
    const { reporter, stream } = captureReporter();
    expect(await (await BACKEND_MODULES.local()).bootstrap(testConfig({}), {}, reporter)).to.deep.equal({});
    expect(stream.text).to.include('needs no bootstrap');
    const plan = (await BACKEND_MODULES.aws()).teardownPlan(testConfig({ backend: 'aws' }), {
      deployment: true,
      includeBootstrap: true,
    });
    expect(plan.join('\n')).to.include('scones-workflow').and.to.include('scones-bootstrap');
  });
});

describe('parseS3Uri (the one s3:// parser)', () => {
  it('splits bucket and key, keeping the key as written', () => {
    expect(parseS3Uri('s3://team/data-capture/ep/', '--capture')).to.deep.equal({
      bucket: 'team',
      key: 'data-capture/ep/',
    });
    expect(parseS3Uri('s3://team', '--capture')).to.deep.equal({ bucket: 'team', key: '' });
  });

  it('refuses anything else, naming the input', () => {
    expect(() => parseS3Uri('https://team/x', '--capture')).to.throw(
      /--capture https:\/\/team\/x is not an s3:\/\/ URI/,
    );
    expect(() => parseS3Uri('s3:///key', '--capture')).to.throw(/not an s3:\/\/ URI/);
  });
});
