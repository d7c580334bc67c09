/**
 * The everyday commands of the AWS CLI and boto3's managed transfers against the local store, on objects
 * of 0 B, 1 MB and 20 MB, folder keys and nested prefixes: `aws s3 cp` (up, down, and server-side copy,
 * which is UploadPartCopy over 8 MB), `sync` both ways, `ls` (with and without --recursive), `rm
 * --recursive`; boto3's upload_file, download_file and copy. Every object read back must be
 * byte-identical. Records each check in bench/results/s3-clients.json.
 *
 *   node --import tsx bench/s3-clients.ts
 *
 * It installs nothing itself: `apt-get install -y awscli python3-boto3` (Debian) gives both.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { startLocalObjectStore } from '../pipeline/local-s3/launcher.js';
import { record, scratchDir } from './common.js';

const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
for (const [tool, args] of [
  ['aws', ['--version']],
  [python, ['-c', 'import boto3']],
] as const)
  if (spawnSync(tool, args).status !== 0) {
    process.stderr.write(
      `s3-clients: ${tool} ${args.join(' ')} failed; apt-get install -y awscli python3-boto3\n`,
    );
    process.exit(2);
  }

const work = scratchDir('s3-clients');
const bucket = 'clients';
const server = await startLocalObjectStore({ directory: join(work, 'store'), bucket, log: () => {} });
const env = {
  ...process.env,
  AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_CONFIG_FILE: join(work, 'no-config'),
  AWS_SHARED_CREDENTIALS_FILE: join(work, 'no-credentials'),
  ENDPOINT: server.endpoint,
  BUCKET: bucket,
};
const checks: { check: string; ok: boolean; detail?: string }[] = [];
const check = (name: string, ok: boolean, detail?: string) => {
  checks.push({ check: name, ok, ...(ok || detail === undefined ? {} : { detail: detail.slice(-800) }) });
  process.stdout.write(
    `${ok ? 'ok  ' : 'FAIL'} ${name}${ok || detail === undefined ? '' : `\n${detail.slice(-800)}`}\n`,
  );
};
const aws = (...args: string[]) => {
  const run = spawnSync('aws', ['--endpoint-url', server.endpoint, ...args], { env, encoding: 'utf8' });
  return { ok: run.status === 0, out: `${run.stdout}${run.stderr}` };
};
const md5 = (path: string) => createHash('md5').update(readFileSync(path)).digest('hex');
/** Every file below `root`, by relative path, with its MD5. */
const tree = (root: string) =>
  Object.fromEntries(
    readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => {
        const path = join(entry.parentPath, entry.name);
        return [relative(root, path), md5(path)];
      })
      .sort(([a], [b]) => (String(a) < String(b) ? -1 : 1)),
  );

try {
  const source = join(work, 'source');
  const sizes = { 'zero.bin': 0, 'one.bin': 1_000_000, 'twenty.bin': 20_000_000 };
  const files = { 'zero.bin': 'a/zero.bin', 'one.bin': 'a/b/one.bin', 'twenty.bin': 'a/b/c/twenty.bin' };
  for (const [name, path] of Object.entries(files)) {
    mkdirSync(join(source, path, '..'), { recursive: true });
    writeFileSync(join(source, path), randomBytes(sizes[name as keyof typeof sizes]));
  }
  const out = join(work, 'out');
  mkdirSync(out);

  for (const [name, path] of Object.entries(files)) {
    const up = aws('s3', 'cp', join(source, path), `s3://${bucket}/cp/${name}`);
    const copy = aws('s3', 'cp', `s3://${bucket}/cp/${name}`, `s3://${bucket}/copied/${name}`);
    const down = aws('s3', 'cp', `s3://${bucket}/copied/${name}`, join(out, `copied-${name}`));
    const same = down.ok && md5(join(out, `copied-${name}`)) === md5(join(source, path));
    check(
      `aws s3 cp up, server-side copy, down: ${name} byte-identical`,
      up.ok && copy.ok && same,
      up.out + copy.out + down.out,
    );
  }
  const syncUp = aws('s3', 'sync', source, `s3://${bucket}/synced/`);
  const syncDown = aws('s3', 'sync', `s3://${bucket}/synced/`, join(out, 'synced'));
  check(
    'aws s3 sync up and down: nested prefixes byte-identical',
    syncUp.ok && syncDown.ok && JSON.stringify(tree(join(out, 'synced'))) === JSON.stringify(tree(source)),
    syncUp.out + syncDown.out,
  );
  const again = aws('s3', 'sync', source, `s3://${bucket}/synced/`);
  check('aws s3 sync again uploads nothing', again.ok && again.out.trim() === '', again.out);
  const marker = aws('s3api', 'put-object', '--bucket', bucket, '--key', 'synced/a/folder/');
  const recursive = aws('s3', 'ls', `s3://${bucket}/synced/`, '--recursive');
  check(
    'aws s3 ls --recursive lists every key, the folder marker too',
    marker.ok &&
      recursive.ok &&
      ['synced/a/zero.bin', 'synced/a/b/one.bin', 'synced/a/b/c/twenty.bin', 'synced/a/folder/'].every(
        (key) => recursive.out.includes(key),
      ),
    marker.out + recursive.out,
  );
  const level = aws('s3', 'ls', `s3://${bucket}/synced/a/`);
  check(
    'aws s3 ls shows one level: PRE b/, PRE folder/, zero.bin',
    level.ok && /PRE b\//.test(level.out) && /PRE folder\//.test(level.out) && /zero\.bin/.test(level.out),
    level.out,
  );
  const remove = aws('s3', 'rm', `s3://${bucket}/synced/`, '--recursive');
  const after = aws('s3', 'ls', `s3://${bucket}/synced/`, '--recursive');
  check(
    'aws s3 rm --recursive removes every key',
    remove.ok && after.out.trim() === '',
    remove.out + after.out,
  );

  const boto = spawnSync(
    python,
    [
      '-c',
      `
import boto3, hashlib, os, sys
s3 = boto3.client('s3', endpoint_url=os.environ['ENDPOINT'])
bucket, out, source = os.environ['BUCKET'], sys.argv[1], sys.argv[2]
md5 = lambda p: hashlib.md5(open(p, 'rb').read()).hexdigest()
for name, path in [('zero.bin', 'a/zero.bin'), ('one.bin', 'a/b/one.bin'), ('twenty.bin', 'a/b/c/twenty.bin')]:
    s3.upload_file(os.path.join(source, path), bucket, 'boto/' + name)
    s3.copy({'Bucket': bucket, 'Key': 'boto/' + name}, bucket, 'boto/copy/' + name)
    s3.download_file(bucket, 'boto/copy/' + name, os.path.join(out, 'boto-' + name))
    print(name, md5(os.path.join(out, 'boto-' + name)) == md5(os.path.join(source, path)))
`,
      out,
      source,
    ],
    { env, encoding: 'utf8' },
  );
  for (const name of Object.keys(files))
    check(
      `boto3 upload_file, copy, download_file: ${name} byte-identical`,
      boto.status === 0 && boto.stdout.includes(`${name} True`),
      `${boto.stdout}${boto.stderr}`,
    );
  const version = spawnSync('aws', ['--version'], { encoding: 'utf8' }).stdout.trim();
  const botoVersion = spawnSync(python, ['-c', 'import boto3; print(boto3.__version__)'], {
    encoding: 'utf8',
  });
  record('s3-clients', {
    summary: `${checks.filter((c) => c.ok).length} of ${checks.length} checks passed`,
    command: 'node --import tsx bench/s3-clients.ts',
    clients: { awsCli: version, boto3: botoVersion.stdout.trim() },
    checks,
  });
} finally {
  await server.stop();
}
