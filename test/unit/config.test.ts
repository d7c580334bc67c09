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
    [
      'a threshold neither auto nor 0-1',
      { 'deploy.threshold': 'abc' },
      /deploy\.threshold = "abc": expected "auto" or a number from 0 to 1/,
    ],
    ['classes not a list', { 'data.classes': '8,8' }, /data\.classes = "8,8": expected a list .*\[8,48\]/],
    [
      'a class listed twice',
      { 'data.classes': [8, 8] },
      /data\.classes names 8 twice .*list each class once/,
    ],
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

  it('refuses __proto__, constructor and prototype keys from flags, environment and file, leaving Object.prototype clean', () => {
    writeFileSync(join(dir, 'proto.yaml'), 'gate:\n  constructor:\n    polluted: 1\n');
    const attempts: [string, () => unknown][] = [
      ['--set', () => loadConfig({ cwd: dir, env: {}, overrides: { '__proto__.polluted': 1 } })],
      ['nested --set', () => loadConfig({ cwd: dir, env: {}, overrides: { 'gate.__proto__.polluted': 1 } })],
      ['environment', () => loadConfig({ cwd: dir, env: { SCONES___PROTO____POLLUTED: '1' } })],
      ['file', () => loadConfig({ cwd: dir, env: {}, file: 'proto.yaml' })],
    ];
    for (const [layer, attempt] of attempts) {
      const error = (() => {
        try {
          attempt();
          return undefined;
        } catch (e) {
          return e;
        }
      })();
      expect(({} as { polluted?: unknown }).polluted, layer).to.equal(undefined);
      if (layer !== 'environment') {
        expect(error, layer).to.be.instanceOf(ConfigError);
        expect((error as Error).message, layer).to.match(
          /is not a configuration key \((__proto__|constructor) is never one\)/,
        );
      }
    }
  });

  it('suggests the nearest key for a misspelt one', () => {
    expect(() => loadConfig({ cwd: dir, env: {}, overrides: { 'train.batchSzie': 8 } })).to.throw(
      ConfigError,
      /unknown key train\.batchSzie: did you mean train\.batchSize\?/,
    );
    expect(() => loadConfig({ cwd: dir, env: {}, overrides: { 'trian.epochs': 8 } })).to.throw(
      ConfigError,
      /unknown key trian: did you mean train\?/,
    );
    expect(() => loadConfig({ cwd: dir, env: {}, overrides: { 'zzzzzzzz.qqqq': 8 } })).to.throw(
      ConfigError,
      /unknown key zzzzzzzz: remove it or check its spelling/,
    );
  });

  it('ignores SCONES_* variables that name no configuration key (SCONES_DEBUG), and lists them', () => {
    const { config, sources } = loadConfig({
      cwd: dir,
      env: { SCONES_DEBUG: '1', SCONES_TRAIN__EPOCHS: '4' },
    });
    expect(config.train.epochs).to.equal(4);
    expect(sources.ignoredEnv).to.deep.equal(['SCONES_DEBUG']);
  });

  it('records where each value came from: default, file, environment or flag', () => {
    writeFileSync(join(dir, 'scones.config.yaml'), 'gate:\n  minAccuracy: 0.7\ntrain:\n  epochs: 5\n');
    const { sources, config } = loadConfig({
      cwd: dir,
      env: { SCONES_TRAIN__EPOCHS: '9' },
      overrides: { 'deploy.threshold': 0.5 },
    });
    expect(sources.origins['gate.minAccuracy']).to.equal('file scones.config.yaml');
    expect(sources.origins['train.epochs']).to.equal('env SCONES_TRAIN__EPOCHS');
    expect(sources.origins['deploy.threshold']).to.equal('flag');
    expect(sources.origins.region).to.equal('default');
    expect(Object.keys(sources.origins).sort()).to.include.members([
      'backend',
      'data.classes',
      'train.patience',
    ]);
    expect(config.deploy.threshold).to.equal(0.5);
  });

  it('reads --config given as an absolute path', () => {
    const { dir: other, cleanup: cleanOther } = tempDir();
    try {
      writeFileSync(join(other, 'abs.yaml'), 'train:\n  epochs: 2\n');
      expect(loadConfig({ cwd: dir, env: {}, file: join(other, 'abs.yaml') }).config.train.epochs).to.equal(
        2,
      );
      expect(() => loadConfig({ cwd: dir, env: {}, file: join(other, 'gone.yaml') })).to.throw(
        ConfigError,
        new RegExp(`${join(other, 'gone.yaml')} does not exist`),
      );
    } finally {
      cleanOther();
    }
  });

  it('gives equal configurations equal digests and different ones different digests', () => {
    const a = loadConfig({ cwd: dir, env: {} }).config;
    const b = loadConfig({ cwd: dir, env: {} }).config;
    const c = loadConfig({ cwd: dir, env: {}, overrides: { 'train.epochs': 2 } }).config;
    expect(configDigest(a)).to.equal(configDigest(b));
    expect(configDigest(a)).to.not.equal(configDigest(c));
  });
});
