import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { runCli, tempDir } from '../helpers/workspace.js';

/** The error document --json prints on stdout when a command fails. */
function errorDocument(stdout: string): { stage: string; message: string; exitCode: number } {
  return (JSON.parse(stdout) as { error: { stage: string; message: string; exitCode: number } }).error;
}

describe('CLI errors: exit codes, messages and the --json error document', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
  });
  afterEach(() => cleanup());

  describe('workDir that is a file', () => {
    it('`models` refuses it naming workDir (exit 2), as evaluate and rollback do', async () => {
      writeFileSync(join(dir, 'afile.txt'), 'not a folder');
      const result = await runCli(['models', '--set', 'workDir=afile.txt'], { cwd: dir });
      expect(result.code, result.stderr).to.equal(2);
      expect(result.stderr).to.match(/workDir .*afile\.txt is a file, not a folder: set workDir to a folder/);
      expect(result.stderr).not.to.include('ENOTDIR: not a directory, mkdir');
    });

    it('`models --json` under a file: exit 2 and the error document', async () => {
      writeFileSync(join(dir, 'afile.txt'), 'not a folder');
      const result = await runCli(['models', '--json', '--set', 'workDir=afile.txt/sub'], { cwd: dir });
      expect(result.code, result.stderr).to.equal(2);
      expect(errorDocument(result.stdout)).to.deep.include({ stage: 'models', exitCode: 2 });
      expect(errorDocument(result.stdout).message).to.match(
        /workDir .*afile\.txt\/sub: .* set workDir to a folder/,
      );
    });

    it('`models` in an empty folder says there is no history and creates nothing (it reads only)', async () => {
      const text = await runCli(['models'], { cwd: dir });
      expect(text.code, text.stderr).to.equal(0);
      expect(text.stdout).to.match(/no model in the history yet/);
      const json = await runCli(['models', '--json'], { cwd: dir });
      expect(json.code, json.stderr).to.equal(0);
      expect(JSON.parse(json.stdout)).to.deep.equal([]);
      expect(readdirSync(dir)).to.deep.equal([]);
    });
  });

  describe('usage errors with --json print the error document, like configuration errors', () => {
    const cases: [string[], string, RegExp][] = [
      [['run', '--frobnicate', '--json'], 'run', /unknown option '--frobnicate'/],
      [
        ['gate', '--min-accuracy', '2', '--json'],
        'gate',
        /--min-accuracy takes a number from 0 to 1, not "2"/,
      ],
      [['run', '--run-id', '../evil', '--json'], 'run', /--run-id "\.\.\/evil" is not valid/],
      [['frobnicate', '--json'], 'scones', /unknown command 'frobnicate'/],
      [['rollback', '--to', '', '--json'], 'rollback', /--to takes a training id .*not an empty value/],
      [['config', '--json', '--set', 'gate.minAcuracy=1'], 'config', /did you mean gate\.minAccuracy\?/],
    ];
    for (const [args, stage, message] of cases) {
      it(`scones ${args.join(' ')}: exit 2, { error: { stage: ${stage}, message, exitCode: 2 } } on stdout`, async () => {
        const result = await runCli(args, { cwd: dir });
        expect(result.code, result.stderr).to.equal(2);
        const document = errorDocument(result.stdout);
        expect(document).to.deep.include({ stage, exitCode: 2 });
        expect(document.message).to.match(message);
        expect(document.message).not.to.match(/^error: /);
        expect(result.stderr).to.match(message);
      });
    }

    it('without --json, a usage error prints nothing on stdout', async () => {
      const result = await runCli(['run', '--frobnicate'], { cwd: dir });
      expect(result.code).to.equal(2);
      expect(result.stdout).to.equal('');
    });
  });

  describe('configuration errors say what is accepted', () => {
    const cases: [string, RegExp][] = [
      ['deploy.threshold=abc', /deploy\.threshold = "abc": expected "auto" or a number from 0 to 1/],
      ['deploy.threshold=2', /deploy\.threshold = 2: expected "auto" or a number from 0 to 1/],
      ['data.classes=8,8', /data\.classes = "8,8": expected a list .*such as \[8,48\]/],
      ['data.classes=[8,8]', /data\.classes = \[8,8\]: data\.classes names 8 twice .*list each class once/],
      [
        'data.classes=[bicycle, motorcycle, bicycle]',
        /data\.classes names "bicycle" twice .*list each class once/,
      ],
    ];
    for (const [set, message] of cases) {
      it(`scones config --set ${set}: exit 2, ${message.source}`, async () => {
        const result = await runCli(['config', '--set', set], { cwd: dir });
        expect(result.code, result.stderr).to.equal(2);
        expect(result.stderr).to.match(message);
        expect(result.stderr).not.to.include('Invalid input');
      });
    }
  });
});
