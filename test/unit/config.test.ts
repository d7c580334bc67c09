import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { configDigest, envNameToKey, loadConfig } from '../../pipeline/config.js';
import { ConfigError } from '../../pipeline/errors.js';
import { tempDir } from '../helpers/workspace.js';

describe('configuration', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
  });
  afterEach(() => cleanup());

  it('applies defaults < file < SCONES_* environment < flags', () => {
    // Prepare
    writeFileSync(
      join(dir, 'scones.config.yaml'),
      'gate:\n  minAccuracy: 0.7\n  maxRegression: 0.05\ntrain:\n  epochs: 5\n',
    );
    // Act
    const { config, sources } = loadConfig({
      cwd: dir,
      env: { SCONES_GATE__MIN_ACCURACY: '0.75', SCONES_TRAIN__EPOCHS: '9', UNRELATED: 'x' },
      overrides: { 'train.epochs': 3 },
    });
    // Assess
    expect(config.gate.minAccuracy).to.equal(0.75);
    expect(config.gate.maxRegression).to.equal(0.05);
    expect(config.train.epochs).to.equal(3);
    expect(config.testExecutions.count).to.equal(30);
    expect(sources.file).to.equal('scones.config.yaml');
    expect(sources.env).to.have.length(2);
  });

  it('maps environment names to nested camelCase keys', () => {
    expect(envNameToKey('SCONES_GATE__MIN_ACCURACY')).to.equal('gate.minAccuracy');
    expect(envNameToKey('SCONES_TRAIN__SAGEMAKER__ROLE_ARN')).to.equal('train.sagemaker.roleArn');
    expect(envNameToKey('SCONES_BACKEND')).to.equal('backend');
  });

  const invalid: [string, Record<string, unknown>, RegExp][] = [
    ['a non-number', { 'gate.minAccuracy': 'abc' }, /gate\.minAccuracy = "abc".*expected number/],
    ['a probability above 1', { 'gate.minAccuracy': 1.5 }, /gate\.minAccuracy = 1\.5/],
    ['an unknown backend', { backend: 'gcp' }, /backend = "gcp".*"local"\|"aws"/],
    ['a misspelt key', { 'gate.minAcuracy': 0.9 }, /unknown key gate\.minAcuracy/],
    ['a bad data source', { 'data.source': 'ftp:x' }, /data\.source = "ftp:x".*images:DIR/],
  ];
  for (const [name, overrides, message] of invalid) {
    it(`rejects ${name}, naming the key and value`, () => {
      expect(() => loadConfig({ cwd: dir, env: {}, overrides })).to.throw(ConfigError, message);
    });
  }

  it('rejects a missing --config file and invalid YAML by name', () => {
    expect(() => loadConfig({ cwd: dir, env: {}, file: 'nope.yaml' })).to.throw(
      ConfigError,
      /nope\.yaml does not exist/,
    );
    writeFileSync(join(dir, 'bad.yaml'), 'gate: [unclosed');
    expect(() => loadConfig({ cwd: dir, env: {}, file: 'bad.yaml' })).to.throw(
      ConfigError,
      /bad\.yaml is not valid YAML/,
    );
  });

  it('gives equal configurations equal digests and different ones different digests', () => {
    const a = loadConfig({ cwd: dir, env: {} }).config;
    const b = loadConfig({ cwd: dir, env: {} }).config;
    const c = loadConfig({ cwd: dir, env: {}, overrides: { 'train.epochs': 2 } }).config;
    expect(configDigest(a)).to.equal(configDigest(b));
    expect(configDigest(a)).to.not.equal(configDigest(c));
  });
});
