import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import { loadConfig } from '../../pipeline/config.js';

interface Step {
  id?: string;
  run?: string;
  uses?: string;
  if?: string;
  with?: Record<string, string>;
}
const workflow = parse(
  readFileSync(join(import.meta.dirname, '..', '..', '.github', 'workflows', 'pr.yml'), 'utf8'),
) as {
  jobs: Record<
    string,
    {
      needs?: string;
      if?: string;
      permissions?: Record<string, string>;
      env?: Record<string, string>;
      steps: Step[];
    }
  >;
};

describe('pr.yml model feedback', () => {
  const job = workflow.jobs['model-feedback']!;

  it('trains on real CIFAR-100 with the archive cached under the key of its configured MD5', () => {
    const { config } = loadConfig({ env: {}, cwd: '.' });
    const cache = job.steps.find((s) => s.uses?.startsWith('actions/cache@'));
    expect(cache?.with?.key).to.include(config.data.cifar100.md5);
    expect(cache?.with?.path).to.equal(job.env?.SCONES_DATA__CIFAR100__CACHE_DIR);
    const run = job.steps.find((s) => s.id === 'run');
    expect(run?.run).to.include('npx scones run --source cifar100');
  });

  it('writes the comment with the script, to the job summary, and posts it only with a writable token', () => {
    const write = job.steps.find((s) => s.run?.includes('scripts/pr-comment.ts'));
    expect(write?.run).to.include('>> "$GITHUB_STEP_SUMMARY"');
    for (const flag of ['--pr', '--main', '--preview', '--report-url', '--out'])
      expect(
        readFileSync(join(import.meta.dirname, '..', '..', 'scripts', 'pr-comment.ts'), 'utf8'),
      ).to.match(new RegExp(`'?${flag.slice(2)}'?: \\{ type: 'string' \\}`));
    const post = job.steps.find((s) => s.uses?.startsWith('actions/github-script@'));
    expect(post?.if).to.include('github.event.pull_request.head.repo.full_name == github.repository');
    expect(job.permissions).to.deep.equal({ contents: 'read', actions: 'read', 'pull-requests': 'write' });
    expect(job.needs).to.equal('change-set-preview');
    expect(job.if).to.include('!cancelled()');
  });
});
