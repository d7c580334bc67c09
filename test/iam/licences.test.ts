import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { bundleLambdas } from '../../pipeline/templates/lambda-bundles.js';
import { tempDir } from '../helpers/workspace.js';

const root = join(import.meta.dirname, '..', '..');
const AGPL = /AGPL/i;

describe('licences: the AGPL simulator stays in tests', function () {
  this.timeout(120_000);

  it('the production dependency tree holds no AGPL package', () => {
    // npm ls exits non-zero for a tree it finds odd (an engine warning, an extraneous package) yet still
    // prints the tree; the tree is what is checked.
    const listed = spawnSync('npm', ['ls', '--omit=dev', '--all', '--json', '--long'], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    const tree = JSON.parse(listed.stdout) as {
      dependencies?: Record<string, { license?: string; dependencies?: unknown }>;
    };
    const found: string[] = [];
    let count = 0;
    const visit = (deps: Record<string, { license?: string; dependencies?: unknown }> | undefined) => {
      for (const [name, dep] of Object.entries(deps ?? {})) {
        count++;
        if (AGPL.test(String(dep.license ?? ''))) found.push(`${name} (${dep.license})`);
        visit(dep.dependencies as never);
      }
    };
    visit(tree.dependencies);
    expect(count, 'packages inspected').to.be.greaterThan(20);
    expect(found).to.deep.equal([]);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(pkg.dependencies)).to.not.include('@cloud-copilot/iam-simulate');
  });

  it('the Lambda bundles include no @cloud-copilot module', async () => {
    const { dir, cleanup } = tempDir('iam-bundles-');
    try {
      const bundles = await bundleLambdas(dir);
      expect(bundles).to.have.length(3);
      for (const b of bundles)
        expect(readFileSync(b.jsPath, 'utf8'), b.name).to.not.include('@cloud-copilot');
    } finally {
      cleanup();
    }
  });
});
