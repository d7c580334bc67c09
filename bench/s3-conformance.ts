/**
 * Holds the local store to ceph/s3-tests, the S3 conformance suite Ceph RGW is held to: starts the
 * store child that `scones serve` runs (with `startLocalObjectStore`, as `serve` does, without needing a
 * deployment) in a scratch folder, writes the suite's s3tests.conf for the store's one
 * key pair, runs the tests listed in bench/s3-conformance-selection.txt with pytest, and records
 * "N of M selected passed" in bench/results/s3-conformance.json.
 *
 *   node --import tsx bench/s3-conformance.ts <path of an s3-tests checkout>   (or S3_TESTS_DIR=...)
 *
 * It installs nothing itself. The suite needs Python 3 with what s3-tests imports; Debian has it all:
 *   apt-get update && apt-get install -y python3-boto3 python3-pytest python3-munch python3-isodate \
 *     python3-requests python3-httplib2 python3-lxml python3-yaml python3-tz
 * The suite's code is not part of this repository: fetch https://github.com/ceph/s3-tests yourself.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteBucketCommand } from '@aws-sdk/client-s3';
import { localS3Client, startLocalObjectStore } from '../pipeline/local-s3/launcher.js';
import { ROOT, record, scratchDir } from './common.js';

const suite = process.argv[2] ?? process.env.S3_TESTS_DIR;
if (suite === undefined || !existsSync(join(suite, 's3tests', 'functional', 'test_s3.py'))) {
  process.stderr.write(
    'usage: node --import tsx bench/s3-conformance.ts <s3-tests checkout> (or set S3_TESTS_DIR)\n',
  );
  process.exit(2);
}
// Debian's Python (its packages are installed for /usr/bin/python3, which a pyenv shim may hide).
const python = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const modules = ['boto3', 'pytest', 'munch', 'isodate', 'requests', 'httplib2', 'lxml', 'yaml', 'pytz'];
const missing = spawnSync(python, ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8' });
if (missing.status !== 0) {
  process.stderr.write(
    `s3-conformance: Python modules missing (${missing.stderr.trim().split('\n').at(-1)}). Install them with:\n` +
      '  apt-get update && apt-get install -y python3-boto3 python3-pytest python3-munch python3-isodate ' +
      'python3-requests python3-httplib2 python3-lxml python3-yaml python3-tz\n',
  );
  process.exit(2);
}

/** `file::test` lines; a line with a tab after the name is a test left out, and the reason why. */
const lines = readFileSync(join(ROOT, 'bench', 's3-conformance-selection.txt'), 'utf8')
  .split('\n')
  .filter((line) => line.startsWith('test_'));
const selected = lines.filter((line) => !line.includes('\t')).map((line) => line.trim());
const excluded = lines.length - selected.length;

const work = scratchDir('s3-conformance');
const server = await startLocalObjectStore({
  directory: join(work, 'store'),
  bucket: 'scones',
  log: () => {},
});
try {
  // The suite expects to start with no bucket (its ListBuckets test counts them): drop the launcher's.
  await localS3Client(server, 'us-east-1').send(new DeleteBucketCommand({ Bucket: 'scones' }));
  const info = server.credentials;
  const store = new URL(server.endpoint);
  // The store has one key pair: the suite's alt and tenant users are the main one (tests that need a
  // second user are left out), so its set-up and clean-up, which go through all three, still run.
  const user = (name: string) =>
    `[s3 ${name}]\ndisplay_name = local\nuser_id = local\nemail = local@example.com\n` +
    `access_key = ${info.accessKeyId}\nsecret_key = ${info.secretAccessKey}\n`;
  const conf = join(work, 's3tests.conf');
  writeFileSync(
    conf,
    `[DEFAULT]\nhost = ${store.hostname}\nport = ${store.port}\nis_secure = False\nssl_verify = False\n\n` +
      '[fixtures]\nbucket prefix = scones-{random}-\n\n' +
      `${user('main')}\n${user('alt')}\n${user('tenant')}tenant = local\n\n` +
      // Read by the suite's set-up even where no IAM test runs; the store serves no IAM.
      ['iam', 'iam root', 'iam alt root'].map((name) => user(name).replace('[s3 iam', '[iam')).join('\n'),
  );
  const junit = join(work, 'junit.xml');
  const command = ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', `--junitxml=${junit}`];
  const started = Date.now();
  spawnSync(python, [...command, ...selected.map((test) => `s3tests/functional/${test}`)], {
    cwd: suite,
    env: { ...process.env, S3TEST_CONF: conf },
    stdio: 'inherit',
  });
  const report = readFileSync(junit, 'utf8');
  const cases = [...report.matchAll(/<testcase ([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)];
  const outcomes = cases.map(([, attributes = '', body = '']) => ({
    name: /\sname="([^"]+)"/.exec(` ${attributes}`)?.[1] ?? '?',
    outcome: /<(failure|error|skipped)/.exec(body)?.[1] ?? 'passed',
  }));
  // A parametrized test is one case a parameter set; every case the selection names counts once.
  const passed = outcomes.filter((test) => test.outcome === 'passed').length;
  const total = Math.max(outcomes.length, selected.length);
  const failed = outcomes
    .filter((test) => test.outcome !== 'passed')
    .map((test) => `${test.name} (${test.outcome})`);
  const percent = Number(((100 * passed) / total).toFixed(1));
  const summary = `${passed} of ${total} selected passed (${percent}%)`;
  const commit = spawnSync('git', ['-C', suite, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  record('s3-conformance', {
    summary,
    command: `node --import tsx bench/s3-conformance.ts ${suite}`,
    suite: `ceph/s3-tests${commit === '' ? '' : ` ${commit}`}`,
    selected: total,
    excludedWithReason: excluded,
    passed,
    percent,
    seconds: Math.round((Date.now() - started) / 1000),
    notPassed: failed,
  });
  process.stdout.write(`${summary}\n`);
} finally {
  await server.stop();
}
