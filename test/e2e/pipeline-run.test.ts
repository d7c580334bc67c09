import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { text } from 'node:stream/consumers';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { expect } from 'chai';
import { openLocalBackend } from '../../pipeline/backends/local/backend.js';
import { openLocalDeployment } from '../../pipeline/backends/local/serve.js';
import type { TestExecutionsDocument } from '../../pipeline/contracts/test-executions.js';
import { FileObjectStore } from '../../pipeline/local-s3/files.js';
import { localS3Client } from '../../pipeline/local-s3/launcher.js';
import { parseCaptureText } from '../../pipeline/report/capture.js';
import { classifyOutcome, readTestExecutions } from '../../pipeline/stages/test-executions.js';
import { rejection } from '../helpers/assertions.js';
import { jpegBytes, pngBytes } from '../helpers/fixtures.js';
import { runCli, tempDir, testConfig } from '../helpers/workspace.js';

const CONFIG = `
data:
  source: synthetic
  synthetic: { trainPerClass: 40, testPerClass: 15, imageSize: 16, seed: 3 }
train: { epochs: 4, batchSize: 16 }
testExecutions: { count: 12, concurrency: 3 }
`;

interface RunManifest {
  runId: string;
  stages: Record<string, { reused: boolean; outputs: Record<string, unknown> }>;
}

describe('scones run: the whole pipeline on the local backend', function () {
  this.timeout(300_000);
  let dir: string;
  let cleanup: () => void;
  let first: RunManifest;
  let firstLog: string;

  before(async () => {
    ({ dir, cleanup } = tempDir());
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'scones.config.yaml'), CONFIG);
    const result = await runCli(['run', '--json'], { cwd: dir });
    expect(result.code, result.stderr).to.equal(0);
    first = JSON.parse(result.stdout) as RunManifest;
    firstLog = result.stderr;
  });
  after(() => cleanup());

  it('completes every stage under one run id, with the executions and the report agreeing', () => {
    expect(Object.keys(first.stages)).to.deep.equal([
      'stage-data',
      'train',
      'evaluate',
      'gate',
      'deploy',
      'test-executions',
      'monitor-report',
    ]);
    const executions = first.stages['test-executions']!.outputs as {
      summary: { total: number; succeeded: number; filtered: number; errors: number; accuracy: number };
    };
    expect(executions.summary.total).to.equal(12);
    expect(executions.summary.errors).to.equal(0);
    expect(executions.summary.succeeded + executions.summary.filtered).to.equal(12);
    const report = first.stages['monitor-report']!.outputs as {
      records: number;
      malformed: number;
      reportDir: string;
      predictionsPerClass: Record<string, number>;
    };
    expect(report.records).to.equal(12);
    expect(report.malformed).to.equal(0);
    expect(Object.values(report.predictionsPerClass).reduce((a, b) => a + b, 0)).to.equal(12);
    for (const file of [
      'report.html',
      'summary.md',
      'report.json',
      'confidence-over-time.png',
      'confidence-histogram.png',
      'predictions-per-class.png',
    ])
      expect(existsSync(join(report.reportDir, file)), file).to.equal(true);
    const numbers = JSON.parse(readFileSync(join(report.reportDir, 'report.json'), 'utf8')) as {
      labelled: number;
      accuracy: number;
    };
    expect(numbers.labelled).to.equal(12);
    const manifest = JSON.parse(
      readFileSync(join(dir, '.scones', 'runs', first.runId, 'manifest.json'), 'utf8'),
    ) as RunManifest;
    expect(manifest.stages['monitor-report']).to.not.equal(undefined);
  });

  it('prints validation accuracy (selection) and test accuracy (held out) apart, gates on the latter, and records it with the deployment', () => {
    const evaluation = first.stages.evaluate!.outputs as {
      quality: { accuracy: number; count: number; split: string };
      testSplitDigest: string;
      automation: { chosenThreshold: number; heldOut: { automationRate: number } };
    };
    const dataset = first.stages['stage-data']!.outputs as { totals: { validation: number; test: number } };
    expect(evaluation.quality.split).to.equal('test');
    expect(evaluation.quality.count).to.equal(dataset.totals.test);
    const gate = first.stages.gate!.outputs as { accuracy: number; testSplitDigest: string };
    expect(gate.accuracy).to.equal(evaluation.quality.accuracy);
    expect(gate.testSplitDigest).to.equal(evaluation.testSplitDigest);
    expect(firstLog).to.match(
      new RegExp(
        `model +t-\\w+: validation accuracy [\\d.]+ \\(selection, ${dataset.totals.validation} images\\)`,
      ),
    );
    expect(firstLog).to.match(
      new RegExp(
        `evaluation +test accuracy ${evaluation.quality.accuracy.toFixed(4)} \\(held out, ${dataset.totals.test} images, 95% interval`,
      ),
    );
    expect(firstLog).to.match(/gate +passed on test accuracy/);
    // The automation headline: the share routed and the accuracy of the routed, held out, with intervals.
    const routed = (evaluation.automation.heldOut.automationRate * 100).toFixed(1);
    expect(firstLog).to.match(
      new RegExp(
        `automation +routes ${routed}% of orders automatically at [\\d.]+% accuracy \\(held out on ${dataset.totals.test} test images, 95% intervals`,
      ),
    );
    // One accuracy for the executions, over all of them with ground truth (filtered included), labelled so.
    const executionsLine = /^ {2}executions .*$/m.exec(firstLog)?.[0] ?? '';
    expect(executionsLine.match(/accuracy/g)).to.have.length(1);
    expect(executionsLine).to.match(
      /accuracy [\d.]{6} over the captured executions with ground truth \(filtered included\)$/,
    );
    // The deployment records the model's held-out evaluation (the next gate's champion) and its threshold.
    const deployment = JSON.parse(readFileSync(join(dir, '.scones', 'deployment.json'), 'utf8')) as {
      parameters: Record<string, string>;
    };
    expect(deployment.parameters).to.include({
      ModelTestAccuracy: String(evaluation.quality.accuracy),
      TestSplitDigest: evaluation.testSplitDigest,
      ConfidenceThreshold: String(evaluation.automation.chosenThreshold),
    });
  });

  it('states what the run would cost on AWS with the configured types, from the local records, in the summary and the report', () => {
    const train = first.stages.train!.outputs as { durationSeconds: number };
    const evaluate = first.stages.evaluate!.outputs as { durationSeconds: number };
    const trainingHours = train.durationSeconds / 3600;
    const trainingUsd = trainingHours * 0.736; // ml.g4dn.xlarge training, us-east-1, in the committed snapshot
    expect(evaluate.durationSeconds).to.be.greaterThan(0);
    const usd = (n: number) => (n < 0.01 ? `$${n.toFixed(4)}` : `$${n.toFixed(2)}`);
    const training = `training: 1 x ml.g4dn.xlarge, ${trainingHours.toFixed(3)} instance-hours at $0.736/h = ${usd(trainingUsd)}`;
    const endpoint = 'endpoint: 1 x ml.m5.xlarge at $0.23/h = $5.52 per day while deployed';
    const missing =
      /evaluation: 2 Batch Transform jobs on ml\.m5\.large: no price for ml\.m5\.large in us-east-1 in the snapshot \(retrieved \d{4}-\d{2}-\d{2}\); run scripts\/refresh-prices\.ts/;
    const headline = `On AWS this run would cost at least ${usd(trainingUsd)} (configured types, local durations as a stand-in for AWS's; prices missing); the endpoint would add $5.52 per day`;
    expect(firstLog).to.include(`  cost        ${headline}`);
    expect(firstLog).to.include(training);
    expect(firstLog).to.match(missing);
    expect(firstLog).to.include(endpoint);
    const { reportDir } = first.stages['monitor-report']!.outputs as { reportDir: string };
    const markdown = readFileSync(join(reportDir, 'summary.md'), 'utf8');
    expect(markdown).to.include('#### What the run costs');
    expect(markdown).to.include(`**${headline}.**`);
    expect(markdown).to.include(`- ${training}`);
    expect(markdown).to.include(`- ${endpoint}`);
    const html = readFileSync(join(reportDir, 'report.html'), 'utf8');
    expect(html).to.include('<h2>What the run costs</h2>');
    expect(html).to.include(`<li>${training}`);
  });

  it('re-runs with the same inputs reusing dataset, model and deployment, and says so', async () => {
    const result = await runCli(['run', '--json'], { cwd: dir });
    expect(result.code, result.stderr).to.equal(0);
    const again = JSON.parse(result.stdout) as RunManifest;
    expect(again.runId).to.not.equal(first.runId);
    expect(again.stages['stage-data']!.reused).to.equal(true);
    expect(again.stages.train!.reused).to.equal(true);
    expect(again.stages.deploy!.reused).to.equal(true);
    // The same cases on the same live deployment: the previous run's executions are taken over.
    expect(again.stages['test-executions']!.reused).to.equal(true);
    const executions = (run: RunManifest) => run.stages['test-executions']!.outputs;
    expect(executions(again)).to.deep.equal({
      ...executions(first),
      resultsUri: executions(again).resultsUri,
    });
    expect(result.stderr).to.match(/reused: stage-data, train, evaluate, deploy, test-executions/);
    expect(result.stderr).to.not.match(/epoch 1:/);
  });

  it('--reuse-last-model skips training and keeps the deployed model', async () => {
    const deployed = (first.stages.train!.outputs as { trainingId: string }).trainingId;
    const result = await runCli(['train', '--reuse-last-model', '--epochs', '2', '--json'], { cwd: dir });
    expect(result.code, result.stderr).to.equal(0);
    const record = JSON.parse(result.stdout) as { reused: boolean; outputs: { trainingId: string } };
    expect(record.reused).to.equal(true);
    expect(record.outputs.trainingId).to.equal(deployed);
    expect(result.stderr).to.match(/reusing the deployed model .*--reuse-last-model/);
    expect(result.stderr).to.not.match(/epoch 1:/);
  });

  it('serves InvokeEndpoint to the real SDK client, with SageMaker errors and one capture record per request', async () => {
    const config = testConfig({ workDir: join(dir, '.scones') });
    const { backend, services, stop } = await openLocalDeployment(config);
    try {
      const client = new SageMakerRuntimeClient({
        region: 'us-east-1',
        endpoint: services.modelServer.url,
        credentials: backend.credentials,
      });
      const image = pngBytes(16, 16, 5);
      const response = await client.send(
        new InvokeEndpointCommand({
          EndpointName: 'scones-workflow-endpoint',
          ContentType: 'image/png',
          Body: image,
          InferenceId: 'probe-1',
        }),
      );
      const probabilities = JSON.parse(Buffer.from(response.Body!).toString()) as number[];
      expect(probabilities).to.have.length(2);
      expect(probabilities.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-5);
      expect(response.ContentType).to.equal('application/json');

      // Only requests signed with this start's credentials (AWS "Common Errors": MissingAuthenticationToken,
      // InvalidClientTokenId, SignatureDoesNotMatch).
      const invocations = `${services.modelServer.url}/endpoints/scones-workflow-endpoint/invocations`;
      const anonymous = await fetch(invocations, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: new Uint8Array(image),
      });
      expect(anonymous.status).to.equal(403);
      expect(anonymous.headers.get('x-amzn-errortype')).to.equal('MissingAuthenticationToken:');
      for (const [credentials, errorType] of [
        [{ accessKeyId: 'x', secretAccessKey: 'y' }, 'InvalidClientTokenId'],
        [{ ...backend.credentials, secretAccessKey: 'guessed' }, 'SignatureDoesNotMatch'],
      ] as const) {
        const stranger = new SageMakerRuntimeClient({
          region: 'us-east-1',
          endpoint: services.modelServer.url,
          credentials,
          maxAttempts: 1,
        });
        const refused = await rejection(
          stranger.send(
            new InvokeEndpointCommand({
              EndpointName: 'scones-workflow-endpoint',
              ContentType: 'image/png',
              Body: image,
            }),
          ),
        );
        expect((refused as Error).name, errorType).to.equal(errorType);
      }

      // The endpoint answers what the trained model predicted for the same test image, and takes JPEG too.
      const manifest = first.stages['stage-data']!.outputs as { prefix: string };
      const modelUri = (first.stages.train!.outputs as { modelUri: string }).modelUri.replace(
        /^s3:\/\/[^/]+\//,
        '',
      );
      const entries = Buffer.from(await backend.store.get(`${manifest.prefix}validation.lst`))
        .toString()
        .trim()
        .split('\n');
      const known = await backend.store.get(`${manifest.prefix}validation/${entries[0]!.split('\t')[2]}`);
      const saved = JSON.parse(
        Buffer.from(await backend.store.get(`${modelUri}validation-predictions.json`)).toString(),
      ) as { probabilities: number[][] };
      const served = await client.send(
        new InvokeEndpointCommand({
          EndpointName: 'scones-workflow-endpoint',
          ContentType: 'image/png',
          Body: known,
        }),
      );
      const servedProbabilities = JSON.parse(Buffer.from(served.Body!).toString()) as number[];
      for (const [k, p] of servedProbabilities.entries())
        expect(p).to.be.closeTo(saved.probabilities[0]![k]!, 1e-5);
      const jpeg = await client.send(
        new InvokeEndpointCommand({
          EndpointName: 'scones-workflow-endpoint',
          ContentType: 'image/jpeg',
          Body: jpegBytes(16, 16, 2),
        }),
      );
      expect(JSON.parse(Buffer.from(jpeg.Body!).toString())).to.have.length(2);

      const failures: [InvokeEndpointCommand, string, number][] = [
        [
          new InvokeEndpointCommand({ EndpointName: 'nope', ContentType: 'image/png', Body: image }),
          'ValidationError',
          400,
        ],
        [
          new InvokeEndpointCommand({
            EndpointName: 'scones-workflow-endpoint',
            ContentType: 'text/csv',
            Body: image,
          }),
          'ModelError',
          424,
        ],
        [
          new InvokeEndpointCommand({
            EndpointName: 'scones-workflow-endpoint',
            ContentType: 'image/png',
            Body: Buffer.from('not a png'),
          }),
          'ModelError',
          424,
        ],
      ];
      for (const [command, name, status] of failures) {
        try {
          await client.send(command);
          expect.fail(`${name} expected`);
        } catch (error) {
          expect((error as Error).name).to.equal(name);
          expect((error as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode).to.equal(
            status,
          );
        }
      }
      await services.modelServer.flush();
      const captured: ReturnType<typeof JSON.parse>[] = [];
      for await (const object of backend.store.list('data-capture/scones-workflow-endpoint/AllTraffic/')) {
        expect(object.key).to.match(
          /^data-capture\/scones-workflow-endpoint\/AllTraffic\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/[\w-]+\.jsonl$/,
        );
        const text = Buffer.from(await backend.store.get(object.key)).toString();
        parseCaptureText(text, object.key, () => {});
        for (const line of text.trim().split('\n')) captured.push(JSON.parse(line));
      }
      const probe = captured.filter((r) => r.eventMetadata.inferenceId === 'probe-1');
      expect(probe).to.have.length(1);
      expect(Object.keys(probe[0]).sort()).to.deep.equal(['captureData', 'eventMetadata', 'eventVersion']);
      expect(probe[0].captureData.endpointInput).to.deep.equal({
        observedContentType: 'image/png',
        mode: 'INPUT',
        data: image.toString('base64'),
        encoding: 'BASE64',
      });
      expect(JSON.parse(probe[0].captureData.endpointOutput.data)).to.deep.equal(probabilities);
      expect(probe[0].captureData.endpointOutput).to.include({
        observedContentType: 'application/json',
        mode: 'OUTPUT',
        encoding: 'JSON',
      });
      expect(probe[0].eventMetadata.inferenceTime).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

      // A Lambda that fails: the image key does not exist, and the execution says why.
      const missing = await services.runner.execute(
        { image_data: '', s3_bucket: config.bucket, s3_key: 'datasets/none/missing.png' },
        'missing',
      );
      expect(missing).to.include({
        status: 'FAILED',
        error: 'ImageNotFound',
        failedState: 'SerializeImageData',
      });
      const outcome = classifyOutcome(
        {
          index: 0,
          name: 'missing',
          label: 0,
          input: { image_data: '', s3_bucket: config.bucket, s3_key: 'datasets/none/missing.png' },
        },
        { name: 'missing', ...missing },
      );
      expect(outcome.outcome).to.equal('ERROR');
    } finally {
      await stop();
    }
  });

  it('scones serve: the store and endpoint for outside clients, holding the work directory until Ctrl-C', async () => {
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, '..', '..', 'bin', 'scones.mjs'), 'serve', '--json'],
      {
        cwd: dir,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, CI: 'true' },
      },
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
      const info = JSON.parse(line) as {
        objectStore: string;
        bucket: string;
        endpoint: string;
        endpointName: string;
        accessKeyId: string;
        secretAccessKey: string;
      };
      expect(info.objectStore).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(info.endpoint).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);

      // An outside client, as boto3 or the AWS CLI would be: the printed address and credentials.
      const credentials = { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey };
      const s3 = localS3Client({ endpoint: info.objectStore, credentials }, 'us-east-1');
      const listed = await s3.send(
        new ListObjectsV2Command({ Bucket: info.bucket, Prefix: 'datasets/', Delimiter: '/' }),
      );
      expect(listed.CommonPrefixes?.length).to.be.at.least(1);
      const runtime = new SageMakerRuntimeClient({
        region: 'us-east-1',
        endpoint: info.endpoint,
        credentials,
      });
      const answer = await runtime.send(
        new InvokeEndpointCommand({
          EndpointName: info.endpointName,
          ContentType: 'image/png',
          Body: pngBytes(16, 16, 8),
        }),
      );
      expect(JSON.parse(Buffer.from(answer.Body!).toString())).to.have.length(2);

      const meanwhile = await runCli(['stage-data'], { cwd: dir });
      expect(meanwhile.code).to.equal(1);
      expect(meanwhile.stderr).to.match(
        new RegExp(`another run holds the lock \\(pid ${child.pid}, run id \\(serve\\), serve since`),
      );

      child.kill('SIGINT');
      expect(await exited).to.equal(0);
      // Both servers stopped with it, and the work directory is free again.
      for (const url of [info.objectStore, info.endpoint])
        expect(
          await fetch(url).then(
            () => 'answered',
            () => 'refused',
          ),
          url,
        ).to.equal('refused');
      expect(existsSync(join(dir, '.scones', 'lock'))).to.equal(false);
    } finally {
      child.kill('SIGKILL');
    }
  });

  /** The threshold the local deployment's filter Lambda runs with: the stack parameter and the function's env. */
  const deployedThreshold = () => {
    const record = JSON.parse(readFileSync(join(dir, '.scones', 'deployment.json'), 'utf8')) as {
      parameters: Record<string, string>;
      stack: { functions: { logicalId: string; environment: Record<string, string> }[] };
    };
    const filter = record.stack.functions.find((f) => f.environment.THRESHOLD !== undefined);
    return { parameter: record.parameters.ConfidenceThreshold, env: filter?.environment.THRESHOLD };
  };

  it('deploys the threshold chosen on validation under deploy.threshold auto (the default) to the filter Lambda', () => {
    const automation = (first.stages.evaluate!.outputs as { automation?: { chosenThreshold: number } })
      .automation;
    expect(automation, 'the evaluation records a chosen threshold').to.not.equal(undefined);
    const chosen = String(automation!.chosenThreshold);
    expect(deployedThreshold()).to.deep.equal({ parameter: chosen, env: chosen });
  });

  it('counts low-confidence executions as filtered when the threshold is raised (a new deployment)', async () => {
    const deployed = await runCli(['deploy', '--set', 'deploy.threshold=0.99999', '--json'], { cwd: dir });
    expect(deployed.code, deployed.stderr).to.equal(0);
    expect(JSON.parse(deployed.stdout).outputs.deployed).to.equal(true);
    const result = await runCli(['test-executions', '--json'], { cwd: dir });
    expect(result.code, result.stderr).to.equal(0);
    const summary = JSON.parse(result.stdout).outputs.summary as {
      filtered: number;
      errors: number;
      total: number;
    };
    expect(summary.filtered).to.be.greaterThan(0);
    expect(summary.errors).to.equal(0);
    // The report judges with the threshold the deployment filtered with, not today's configuration (auto).
    const report = await runCli(['monitor-report', '--json'], { cwd: dir });
    expect(report.code, report.stderr).to.equal(0);
    const reportDir = JSON.parse(report.stdout).outputs.reportDir as string;
    const numbers = JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8')) as { threshold: number };
    expect(numbers.threshold).to.equal(0.99999);
    // An explicit value reaches the filter Lambda as set.
    expect(deployedThreshold()).to.deep.equal({ parameter: '0.99999', env: '0.99999' });
  });

  it('an execution that fails in the classify state is recorded and drawn on that state (a test image the endpoint cannot decode)', async () => {
    // Prepare: the image of the newest run's second case becomes a PNG signature with nothing decodable
    // after it, so serialize passes it on (it sniffs the signature) and the endpoint answers ModelError.
    const config = testConfig({ workDir: join(dir, '.scones') });
    const opened = await openLocalBackend(config);
    let key: string;
    let original: Uint8Array;
    try {
      const runId = (await opened.manifests.latestRunId()) as string;
      key = (await readTestExecutions(opened.store, runId)).results[1]!.s3Key;
      original = await opened.store.get(key);
      const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      await opened.store.put(key, Buffer.concat([signature, Buffer.from('no chunks here')]));
    } finally {
      await opened.close();
    }
    // Act
    let executions: { code: number; stdout: string; stderr: string };
    try {
      executions = await runCli(['test-executions', '--set', 'testExecutions.errorBudget=1', '--json'], {
        cwd: dir,
      });
    } finally {
      const restore = await openLocalBackend(config);
      await restore.store.put(key, original).finally(() => restore.close());
    }
    const report = await runCli(['monitor-report', '--json'], { cwd: dir });
    // Assess: the document names the state from the run itself
    expect(executions.code, executions.stderr).to.equal(0);
    expect(report.code, report.stderr).to.equal(0);
    // The document the stage wrote, read from the local store's files (its layout: pipeline/local-s3/README.md).
    const resultsUri = JSON.parse(executions.stdout).outputs.resultsUri as string;
    const [bucket, ...path] = resultsUri.replace(/^s3:\/\//, '').split('/');
    const files = new FileObjectStore(join(dir, '.scones', 'objects'));
    const document = JSON.parse(
      (await text(files.read(bucket as string, path.join('/')))) as string,
    ) as TestExecutionsDocument;
    const failed = document.results.filter((r) => r.outcome === 'ERROR');
    expect(failed.map((r) => [r.s3Key, r.error, r.failedState])).to.deep.equal([
      [key, 'EndpointError', 'ClassifyImage'],
    ]);
    // Every other execution was filtered at the raised threshold or passed; a filtered one names the filter.
    for (const result of document.results.filter((r) => r.outcome === 'FILTERED'))
      expect(result.failedState).to.equal('FilterInferences');
    // The graph places it on ClassifyImage, in report.json, summary.md and the page's red box and table.
    const reportDir = JSON.parse(report.stdout).outputs.reportDir as string;
    const json = JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8')) as {
      workflow: { states: { name: string; failed: number }[]; unplacedFailures: number };
    };
    expect(json.workflow.states.map((st) => [st.name, st.failed])).to.deep.equal([
      ['SerializeImageData', 0],
      ['ClassifyImage', 1],
      ['FilterInferences', 0],
    ]);
    expect(json.workflow.unplacedFailures).to.equal(0);
    expect(readFileSync(join(reportDir, 'summary.md'), 'utf8')).to.match(
      /\| ClassifyImage \| \d+ \| 0 \| \*\*1\*\* \|/,
    );
    const html = readFileSync(join(reportDir, 'report.html'), 'utf8');
    expect(html).to.match(/<g class="state failed" data-state="ClassifyImage" data-failed="1">/);
    expect(html).to.include('<td>ERROR (EndpointError)</td><td>ClassifyImage</td>');
    expect(html).to.not.include('not recorded');
  });

  it('a weaker model on the same test split is rejected naming both datasets and the ways out; on another test split the minimum alone applies', async () => {
    // Prepare: a deliberately weak model (one epoch, a tiny learning rate) under the deployed champion
    const weak = ['--epochs', '1', '--set', 'train.learningRate=0.000001', '--min-accuracy', '0'];
    // Act: the same dataset, so the same test split as the champion
    const same = await runCli(['run', ...weak], { cwd: dir });
    // Assess
    expect(same.code, same.stderr).to.equal(1);
    expect(same.stderr).to.match(
      /gate rejected model t-\w+: test accuracy [\d.]+ on dataset \w+ is worse than the champion t-\w+ \([\d.]+ on dataset \w+, the same test split\).*--force.*scones teardown/,
    );
    // Act: another dataset (another seed), as the README's images example after its synthetic one
    const other = await runCli(['run', ...weak, '--set', 'data.synthetic.seed=5', '--json'], { cwd: dir });
    // Assess
    expect(other.code, other.stderr).to.equal(0);
    expect(other.stderr).to.match(
      /was evaluated on another test split .*not comparable, only the minimum applies/,
    );
    const run = JSON.parse(other.stdout) as RunManifest;
    expect((run.stages.gate!.outputs as { passed: boolean }).passed).to.equal(true);
  });
});
