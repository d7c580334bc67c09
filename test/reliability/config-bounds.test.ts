import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { configKeys, loadConfig } from '../../pipeline/config.js';
import { ConfigError } from '../../pipeline/errors.js';
import { tempDir } from '../helpers/workspace.js';
import { figures } from './figures.js';

/** The value at a dotted key of the effective configuration. */
function valueAt(config: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)?.[part], config);
}

function refusal(overrides: Record<string, unknown>): string | undefined {
  try {
    loadConfig({ env: {}, overrides, cwd: '/' });
    return undefined;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.message;
  }
}

describe('reliability: configuration bounds and forbidden keys', () => {
  const defaults = loadConfig({ env: {}, cwd: '/' }).config;
  const numericKeys = configKeys().filter((key) => typeof valueAt(defaults, key) === 'number');

  it('finds the numeric keys to check (the schema has at least 20)', () => {
    expect(numericKeys.length).to.be.greaterThan(20);
    expect(numericKeys).to.include.members(['train.batchSize', 'data.synthetic.trainPerClass']);
  });

  it('every numeric key has an upper bound: 1e12 is refused, naming the key, exit 2', () => {
    const unbounded: string[] = [];
    for (const key of numericKeys) {
      figures.badInputsTried++;
      const message = refusal({ [key]: 1e12 });
      if (message?.includes(`${key} = 1000000000000`)) figures.badInputsClearErrors++;
      else unbounded.push(key);
    }
    expect(unbounded, 'keys that accept 1e12').to.deep.equal([]);
  });

  it('the defaults themselves are within the bounds', () => {
    for (const key of numericKeys)
      expect(refusal({ [key]: valueAt(defaults, key) }), key).to.equal(undefined);
  });

  it('lists and free-form maps are bounded too: 1001 classes, 101 hyperparameters', () => {
    const attempts: [Record<string, unknown>, RegExp][] = [
      [{ 'data.classes': Array.from({ length: 1001 }, (_, i) => `class-${i}`) }, /data\.classes = /],
      [
        {
          'train.sagemaker.hyperparameters': Object.fromEntries(
            Array.from({ length: 101 }, (_, i) => [`k${i}`, i]),
          ),
        },
        /at most 100 hyperparameters/,
      ],
    ];
    for (const [overrides, message] of attempts) {
      figures.badInputsTried++;
      expect(refusal(overrides)).to.match(message);
      figures.badInputsClearErrors++;
    }
  });

  it('an invalid bucket name is refused when the configuration is loaded, saying which rule', () => {
    const names: [string, RegExp][] = [
      ['a..b', /bucket = "a\.\.b": an S3 bucket name has no two adjacent dots/],
      ['192.168.5.4', /bucket = "192\.168\.5\.4": an S3 bucket name is not an IP address/],
      ['xn--scones', /reserved prefix/],
      ['scones-s3alias', /reserved prefix .* or suffix/],
      ['Upper', /bucket = "Upper": expected an S3 bucket name/],
      ['ab', /bucket = "ab": expected an S3 bucket name/],
    ];
    for (const [name, message] of names) {
      figures.badInputsTried++;
      expect(refusal({ bucket: name }), name).to.match(message);
      figures.badInputsClearErrors++;
    }
    expect(refusal({ bucket: 'my.scones-bucket-1' })).to.equal(undefined);
  });

  it('YAML keys __proto__ and constructor are refused like --set, and pollute nothing', () => {
    const { dir, cleanup } = tempDir();
    try {
      const files: [string, RegExp][] = [
        [
          '__proto__:\n  polluted: 1\n',
          /"__proto__\.polluted" is not a configuration key \(__proto__ is never one\)/,
        ],
        ['train:\n  __proto__: { epochs: 2 }\n', /"train\.__proto__\.epochs" is not a configuration key/],
        [
          'train:\n  constructor: 1\n',
          /"train\.constructor" is not a configuration key \(constructor is never one\)/,
        ],
        [
          'constructor:\n  prototype:\n    polluted: 1\n',
          /"constructor\.prototype\.polluted" is not a configuration key/,
        ],
        ['__proto__: {}\n', /"__proto__" is not a configuration key/],
      ];
      for (const [text, message] of files) {
        const file = join(dir, 'proto.yaml');
        writeFileSync(file, text);
        figures.badInputsTried++;
        expect(() => loadConfig({ env: {}, file, cwd: dir }), text).to.throw(ConfigError, message);
        expect(({} as { polluted?: unknown }).polluted).to.equal(undefined);
        figures.badInputsClearErrors++;
      }
    } finally {
      cleanup();
    }
  });
});
