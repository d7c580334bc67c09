import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { openLocalBackend } from '../../pipeline/backends/local/backend.js';
import { MODEL_HISTORY_PREFIX, modelPrefix } from '../../pipeline/contracts/layout.js';
import type { ModelHistoryEntry } from '../../pipeline/contracts/model-history.js';
import type { Backend } from '../../pipeline/ports.js';
import { readWentLive } from '../../pipeline/util/model-history-records.js';
import { runCli, tempDir, testConfig } from '../helpers/workspace.js';

// Small and quick: both models pass the gate (no minimum, any regression allowed).
const CONFIG = `
data:
  source: synthetic
  synthetic: { trainPerClass: 12, testPerClass: 4, imageSize: 8, seed: 3 }
train: { epochs: 1, batchSize: 8 }
gate: { minAccuracy: 0, maxRegression: 1 }
testExecutions: { count: 2, concurrency: 2 }
`;

async function models(dir: string): Promise<ModelHistoryEntry[]> {
  const result = await runCli(['models', '--json'], { cwd: dir });
  expect(result.code, result.stderr).to.equal(0);
  return JSON.parse(result.stdout) as ModelHistoryEntry[];
}

async function withBackend<T>(dir: string, fn: (backend: Backend) => Promise<T>): Promise<T> {
  const backend = await openLocalBackend(testConfig({ workDir: join(dir, '.scones') }));
  try {
    return await fn(backend);
  } finally {
    await backend.close();
  }
}

const deployedTrainingId = (dir: string) =>
  withBackend(dir, async (backend) => (await backend.deployment())?.trainingId);

describe('model history and rollback (local backend, whole CLI)', function () {
  this.timeout(300_000);
  let dir: string;
  let cleanup: () => void;
  let first: string;
  let second: string;

  before(async () => {
    ({ dir, cleanup } = tempDir('scones-history-'));
    writeFileSync(join(dir, 'scones.config.yaml'), CONFIG);
    const one = await runCli(['run', '--json'], { cwd: dir });
    expect(one.code, one.stderr).to.equal(0);
    first = (JSON.parse(one.stdout) as { stages: { train: { outputs: { trainingId: string } } } }).stages
      .train.outputs.trainingId;
    // A changed setting trains another model.
    const two = await runCli(['run', '--json', '--epochs', '2'], { cwd: dir });
    expect(two.code, two.stderr).to.equal(0);
    second = (JSON.parse(two.stdout) as { stages: { train: { outputs: { trainingId: string } } } }).stages
      .train.outputs.trainingId;
    expect(second).to.not.equal(first);
  });
  after(() => cleanup());

  it('`scones models` lists both gated models newest first, the deployed one marked live, with their held-out evaluation', async () => {
    const entries = await models(dir);
    expect(entries.map((e) => [e.trainingId, e.live, e.how])).to.deep.equal([
      [second, true, 'deploy'],
      [first, false, 'deploy'],
    ]);
    const [newest, oldest] = entries as [ModelHistoryEntry, ModelHistoryEntry];
    expect(newest.replaced).to.equal(first);
    expect(oldest.replacedAt).to.equal(newest.liveAt);
    expect(newest.replacedAt).to.equal(undefined);
    expect(newest.verdict).to.equal('passed');
    // Under deploy.threshold auto: the threshold evaluate chose for this model, as deployed.
    expect(newest.threshold).to.equal(newest.evaluation?.automation?.threshold);
    expect(newest.threshold).to.be.a('number');
    expect(newest.evaluation?.trainingId).to.equal(second);
    expect(newest.evaluation?.quality.classes.length).to.be.greaterThan(1);
    expect(newest.evaluation?.quality.accuracyInterval.low).to.be.at.most(
      newest.evaluation?.quality.accuracy ?? -1,
    );
    expect(newest.trainer).to.match(/\//);
    // This checkout is a git repository: the run that trained it names the commit.
    expect(newest.commit ?? '').to.match(/^[0-9a-f]{40}$/);
    const table = await runCli(['models'], { cwd: dir });
    expect(table.stdout.split('\n')[1]).to.match(new RegExp(`^\\*\\s+${second}\\s`));
  });

  it('an unchanged deploy and a preview record nothing', async () => {
    const before = await models(dir);
    expect((await runCli(['deploy'], { cwd: dir })).code).to.equal(0);
    expect((await runCli(['deploy', '--preview'], { cwd: dir })).code).to.equal(0);
    expect(await models(dir)).to.deep.equal(before);
  });

  it("`monitor-report --since` reports on the deployed endpoint's capture of the window, outside any run; a bad duration is a usage error", async () => {
    // Both runs' test executions (2 each) reached the deployed endpoints within the last hour.
    const recent = await runCli(['monitor-report', '--since', '1h', '--json'], { cwd: dir });
    expect(recent.code, recent.stderr).to.equal(0);
    const { outputs } = JSON.parse(recent.stdout) as {
      outputs: {
        records: number;
        reportDir: string;
        verdicts: Record<string, string>;
        promisedAutomationRate: number | null;
      };
    };
    expect(outputs.records).to.equal(4);
    // The promise is the live model's, from its going-live record: its held-out rate's lower bound.
    const live = (await models(dir)).find((e) => e.live);
    expect(outputs.promisedAutomationRate).to.be.a('number');
    expect(outputs.promisedAutomationRate).to.equal(
      live?.evaluation?.automation?.heldOut.automationRateInterval.low,
    );
    expect(outputs.verdicts.automationRate).to.be.oneOf(['pass', 'warn']);
    expect(outputs.reportDir).to.include(join('.scones', 'capture-reports'));
    expect(outputs.verdicts).to.have.property('imageBrightnessDrift');
    const bad = await runCli(['monitor-report', '--since', '24 hours'], { cwd: dir });
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/monitor\.since.*expected a duration such as 30m, 24h or 7d/);
  });

  it('`scones rollback` puts the previous model live through the deployer, records it, and refuses a no-op, an unknown model and missing artifacts', async () => {
    const result = await runCli(['rollback', '--json'], { cwd: dir });
    expect(result.code, result.stderr).to.equal(0);
    expect(JSON.parse(result.stdout)).to.deep.include({ left: second });
    expect(await deployedTrainingId(dir)).to.equal(first);
    const entries = await models(dir);
    expect(entries.map((e) => [e.trainingId, e.live, e.how, e.timesLive])).to.deep.equal([
      [first, true, 'rollback', 2],
      [second, false, 'deploy', 1],
    ]);
    expect(entries[0]?.evaluation?.trainingId).to.equal(first);
    // The newest run deployed the second model: its test executions would exercise what is no longer live,
    // and the advice must not be the deploy that undoes the rollback.
    const stale = await runCli(['test-executions'], { cwd: dir });
    expect(stale.code).to.equal(1);
    expect(stale.stderr).to.include(`now serves ${first}`);
    const advised = /scones test-executions --run-id (\S+);/.exec(stale.stderr)?.[1];
    expect(advised, stale.stderr).to.be.a('string');
    const followed = await runCli(['test-executions', '--run-id', advised as string, '--json'], { cwd: dir });
    expect(followed.code, followed.stderr).to.equal(0);
    // The monitor now holds the rolled-back model to its own promise.
    const monitored = await runCli(['monitor-report', '--since', '1h', '--json'], { cwd: dir });
    expect(monitored.code, monitored.stderr).to.equal(0);
    expect(JSON.parse(monitored.stdout).outputs.promisedAutomationRate).to.equal(
      entries[0]?.evaluation?.automation?.heldOut.automationRateInterval.low,
    );

    const again = await runCli(['rollback', '--to', first], { cwd: dir });
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(new RegExp(`model ${first} is already live`));

    const unknown = await runCli(['rollback', '--to', 't-never-gated'], { cwd: dir });
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.match(/model t-never-gated was never gated and deployed/);

    // The second model's artifacts are deleted from the store.
    await withBackend(dir, async (backend) => {
      for await (const object of backend.store.list(modelPrefix(second)))
        await backend.store.delete(object.key);
    });
    const gone = await runCli(['rollback'], { cwd: dir });
    expect(gone.code).to.equal(1);
    expect(gone.stderr).to.match(new RegExp(`model ${second}'s artifacts are gone`));
    expect(await deployedTrainingId(dir)).to.equal(first);

    const records = await withBackend(dir, (backend) => readWentLive(backend.store));
    expect(
      records.map((r) => r.how),
      MODEL_HISTORY_PREFIX,
    ).to.deep.equal(['deploy', 'deploy', 'rollback']);

    // A damaged history fails the scheduled monitor, naming the object, instead of dropping its promise.
    await withBackend(dir, (backend) =>
      backend.store.put(`${MODEL_HISTORY_PREFIX}zz.json`, '{"trainingId":""}'),
    );
    const damaged = await runCli(['monitor-report', '--since', '1h'], { cwd: dir });
    expect(damaged.code).to.equal(1);
    expect(damaged.stderr).to.match(/model-history\/zz\.json is not a model history record/);
  });
});
