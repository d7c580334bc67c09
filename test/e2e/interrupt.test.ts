import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { STAGES } from '../../pipeline/constants.js';
import { runCli, tempDir } from '../helpers/workspace.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'scones.mjs');

describe('Ctrl-C during scones run', function () {
  this.timeout(180_000);

  it('stops the servers, keeps the manifest at the last completed stage, and the re-run resumes from there', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(
        join(dir, 'scones.config.yaml'),
        'data:\n  source: synthetic\n  synthetic: { trainPerClass: 60, testPerClass: 15, imageSize: 16 }\ntrain: { epochs: 30, batchSize: 16, patience: 30 }\ngate: { minAccuracy: 0 }\ntestExecutions: { count: 4 }\n',
      );
      const child = spawn(process.execPath, [BIN, 'run', '--run-id', 'interrupted'], {
        cwd: dir,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, CI: 'true' },
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/epoch 2:/.test(stderr) && child.exitCode === null && !child.killed) child.kill('SIGINT');
      });
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect(code, stderr).to.equal(130);
      expect(stderr).to.match(/SIGINT: stopping; the manifest keeps the last completed stage/);
      // No object store of this work directory is left running, and the lock is released.
      const processes = execFileSync('ps', ['-eo', 'args']).toString();
      expect(processes).to.not.include(join(dir, '.scones'));
      expect(existsSync(join(dir, '.scones', 'lock'))).to.equal(false);
      const manifest = JSON.parse(
        readFileSync(join(dir, '.scones', 'runs', 'interrupted', 'manifest.json'), 'utf8'),
      );
      expect(Object.keys(manifest.stages)).to.deep.equal(['stage-data']);

      const resumed = await runCli(['run', '--run-id', 'interrupted', '--json'], { cwd: dir });
      expect(resumed.code, resumed.stderr).to.equal(0);
      const final = JSON.parse(resumed.stdout);
      expect(final.stages['stage-data'].reused).to.equal(true);
      // Every stage completed, in order: the interrupted one and those after it ran, stage-data was reused.
      expect(Object.keys(final.stages)).to.deep.equal([...STAGES]);
      expect(final.stages.train.reused).to.equal(false);
    } finally {
      cleanup();
    }
  });
});
