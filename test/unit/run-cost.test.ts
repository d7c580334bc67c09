import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { IMAGE_CLASSIFICATION_REGISTRIES } from '../../pipeline/backends/aws/regions.js';
import { priceSnapshotSchema } from '../../pipeline/contracts/prices.js';
import { newManifest, withStage } from '../../pipeline/manifest.js';
import { loadTemplate } from '../../pipeline/templates/template.js';
import { classificationQuality } from '../../pipeline/util/classification-metrics.js';
import {
  ENDPOINT_INSTANCE_COUNT,
  priceSnapshot,
  type RunUsage,
  runCost,
  runUsageOf,
} from '../../pipeline/util/run-cost.js';
import { offerUrls, pricesFromOffer, snapshotOf, typesToPrice } from '../../scripts/refresh-prices.js';
import { testConfig } from '../helpers/workspace.js';

const root = join(import.meta.dirname, '..', '..');
const fixture = (name: string) =>
  JSON.parse(readFileSync(join(root, 'test', 'aws-models', 'price-list', name), 'utf8')) as unknown;
const OFFER_URL =
  'https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonSageMaker/20261130225107/us-east-1/index.json';

/** The snapshot the refresh script makes from the fixture offer file (documented format, illustrative prices). */
function refreshedFromFixture() {
  const types = new Set(typesToPrice(readFileSync(join(root, 'docs', 'aws.md'), 'utf8')));
  return snapshotOf(
    { 'us-east-1': pricesFromOffer(fixture('us-east-1-offer.json'), OFFER_URL, 'us-east-1', types) },
    '2026-12-03',
  );
}

describe('what a run costs (pipeline/util/run-cost.ts)', () => {
  const usage = (overrides: Partial<RunUsage>): RunUsage => ({
    measuredOn: 'aws',
    region: 'us-east-1',
    ...overrides,
  });
  /** An on-demand training job of one instance, not reused; each test names what it varies. */
  const training = (overrides: Partial<NonNullable<RunUsage['training']>>) => ({
    instanceType: 'ml.g4dn.xlarge',
    instanceCount: 1,
    seconds: 600,
    spot: false,
    maxRuntimeSeconds: 3600,
    reused: false,
    ...overrides,
  });

  it('prices managed spot training by BillableTimeInSeconds and states the savings as the API reference defines them (100 of 500 s: 80%)', () => {
    // DescribeTrainingJob, BillableTimeInSeconds: "(1 - BillableTimeInSeconds / TrainingTimeInSeconds) * 100.
    // For example, if BillableTimeInSeconds is 100 and TrainingTimeInSeconds is 500, the savings is 80%."
    const cost = runCost(
      usage({
        training: training({ seconds: 500, billableSeconds: 100, spot: true }),
      }),
    );
    const hourly = priceSnapshot().prices['us-east-1']?.training?.['ml.g4dn.xlarge']?.usdPerHour;
    expect(hourly).to.equal(0.736);
    expect(cost.items[0]?.usd).to.be.closeTo((100 / 3600) * 0.736, 1e-12);
    expect(cost.items[0]?.text).to.equal(
      '1 x ml.g4dn.xlarge, 0.028 instance-hours at $0.736/h = $0.02; managed spot saved 80% (billed 100 of 500 s)',
    );
    expect(cost.headline).to.equal('This run cost $0.02 on AWS (training and evaluation, on-demand)');
  });

  it('multiplies by the instance count (BillableTimeInSeconds * InstanceCount) and adds the evaluation and the endpoint per day', () => {
    const prices = refreshedFromFixture();
    const cost = runCost(
      usage({
        training: training({ instanceCount: 2, seconds: 1800, billableSeconds: 1800 }),
        evaluation: { instanceType: 'ml.m5.large', instanceCount: 1, seconds: 660, reused: false },
        endpoint: { instanceType: 'ml.m5.xlarge', instanceCount: ENDPOINT_INSTANCE_COUNT },
      }),
      prices,
    );
    expect(cost.items.map((i) => [i.item, i.usd])).to.deep.equal([
      ['training', 2 * 0.5 * 0.736],
      ['evaluation', (660 / 3600) * 0.115],
      ['endpoint', 0.23 * 24],
    ]);
    expect(cost.runUsd).to.be.closeTo(0.736 + (660 / 3600) * 0.115, 1e-12);
    expect(cost.headline).to.equal(
      'This run cost $0.76 on AWS (training and evaluation, on-demand); the endpoint adds $5.52 per day',
    );
  });

  it('names a missing price instead of guessing, and the run total becomes a lower bound', () => {
    const cost = runCost(
      usage({
        training: training({ instanceType: 'ml.p3.2xlarge' }),
        evaluation: { instanceType: 'ml.m5.large', instanceCount: 1, seconds: 600, reused: false },
        region: 'eu-west-1',
      }),
    );
    const retrieved = priceSnapshot().retrieved;
    expect(cost.items.map((i) => i.text)).to.deep.equal([
      `1 x ml.p3.2xlarge: no price for ml.p3.2xlarge in eu-west-1 in the snapshot (retrieved ${retrieved}); run scripts/refresh-prices.ts`,
      `2 Batch Transform jobs on ml.m5.large: no price for ml.m5.large in eu-west-1 in the snapshot (retrieved ${retrieved}); run scripts/refresh-prices.ts`,
    ]);
    expect(cost.runUsd).to.equal(undefined);
    expect(cost.headline).to.equal(
      'This run cost at least $0 on AWS (training and evaluation, on-demand; prices missing)',
    );
  });

  it('locally: what the run would cost on AWS, with the local duration as a stand-in and the maxRuntimeSeconds bound', () => {
    const cost = runCost(
      usage({
        measuredOn: 'local',
        training: training({ seconds: 90, spot: true }),
      }),
    );
    expect(cost.items[0]?.text).to.equal(
      '1 x ml.g4dn.xlarge, 0.025 instance-hours at $0.736/h = $0.02; managed spot is on: its savings are known only on AWS; at most $0.74 if it ran to train.sagemaker.maxRuntimeSeconds (3600 s)',
    );
    expect(cost.headline).to.equal(
      "On AWS this run would cost about $0.02 (configured types, local durations as a stand-in for AWS's)",
    );
  });

  it('a reused model or evaluation costs nothing in this run', () => {
    const cost = runCost(
      usage({
        training: training({ instanceType: 'ml.p3.2xlarge', reused: true }),
      }),
    );
    expect(cost.items).to.deep.equal([{ item: 'training', usd: 0, text: '$0, an earlier model reused' }]);
    expect(cost.runUsd).to.equal(0);
  });

  it("reads an aws run's usage from its records: BillableTimeInSeconds and TrainingTimeInSeconds, the transform jobs' billed time, the deployed endpoint", () => {
    const config = testConfig({
      backend: 'aws',
      'train.sagemaker.spot': true,
      'train.sagemaker.instanceCount': 2,
      'deploy.endpointInstanceType': 'ml.m5.large',
    });
    const section = (outputs: unknown, reused = false) =>
      ({
        inputsDigest: 'x',
        startedAt: '2026-12-03T10:00:00.000Z',
        finishedAt: '2026-12-03T10:20:00.000Z',
        durationMs: 1_200_000,
        reused,
        outputs,
      }) as never;
    let manifest = newManifest('r-1', 'aws', '');
    manifest = withStage(
      manifest,
      'train',
      section({
        trainingId: 't-1',
        trainer: 'sagemaker-image-classification/1',
        modelUri: 's3://b/models/t-1/model.tar.gz',
        validationAccuracy: 0.9,
        epochs: [],
        durationSeconds: 500,
        billableSeconds: 100,
        datasetDigest: 'd-1',
        hyperparameters: {},
      }),
    );
    manifest = withStage(
      manifest,
      'evaluate',
      section(
        {
          trainingId: 't-1',
          datasetDigest: 'd-1',
          testSplitDigest: 's-1',
          evaluator: 'sagemaker-batch-transform',
          quality: classificationQuality([{ label: 0, probabilities: [0.9, 0.1] }], ['a', 'b'], 'test'),
          durationSeconds: 900,
          billableSeconds: 660,
        },
        true,
      ),
    );
    manifest = withStage(
      manifest,
      'deploy',
      section({
        deployed: true,
        preview: false,
        stackName: 'scones-workflow',
        trainingId: 't-1',
        deploymentDigest: 'x',
        changes: [],
        deployment: {
          stackName: 'scones-workflow',
          trainingId: 't-1',
          modelUri: 's3://b/models/t-1/model.tar.gz',
          validationAccuracy: 0.9,
          threshold: 0.9,
          endpointName: 'scones-workflow-endpoint',
          stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:scones-workflow',
          captureUri: 's3://b/data-capture',
          definitionKey: 'templates/x.asl.json',
        },
      }),
    );
    const usage = runUsageOf(manifest, config);
    expect(usage).to.deep.equal({
      measuredOn: 'aws',
      region: 'us-east-1',
      training: {
        instanceType: 'ml.g4dn.xlarge',
        instanceCount: 2,
        seconds: 500,
        billableSeconds: 100,
        spot: true,
        maxRuntimeSeconds: 3600,
        reused: false,
      },
      // The transform jobs' billed seconds, not the stage's wall time (which includes polling).
      evaluation: { instanceType: 'ml.m5.large', instanceCount: 1, seconds: 660, reused: true },
      endpoint: { instanceType: 'ml.m5.large', instanceCount: ENDPOINT_INSTANCE_COUNT },
    });
    const cost = runCost(usage);
    expect(cost.items.map((i) => i.usd)).to.deep.equal([(100 / 3600) * 2 * 0.736, 0, 0.115 * 24]);
    expect(cost.headline).to.equal(
      'This run cost $0.04 on AWS (training and evaluation, on-demand); the endpoint adds $2.76 per day',
    );
  });

  it('the committed snapshot parses, dates and sources every price, and covers only regions scones can train in', () => {
    const snapshot = priceSnapshot();
    expect(snapshot.source).to.include('scripts/refresh-prices.ts');
    for (const [region, uses] of Object.entries(snapshot.prices)) {
      expect(IMAGE_CLASSIFICATION_REGISTRIES, region).to.have.property(region);
      for (const [use, byType] of Object.entries(uses))
        for (const [type, price] of Object.entries(byType ?? {})) {
          // The usage type AWS bills it under names the same use and type the entry is filed under.
          const kind = { training: 'Train', transform: 'Tsform', hosting: 'Host' }[use];
          expect(price.source, `${region} ${use} ${type}`).to.include(`-${kind}:${type}`);
          expect(Date.parse(price.date)).to.be.at.most(Date.parse(snapshot.retrieved));
        }
    }
    // An entry without its source or date is refused by the contract.
    expect(
      priceSnapshotSchema.safeParse({
        ...snapshot,
        prices: { 'us-east-1': { training: { 'ml.g4dn.xlarge': { usdPerHour: 0.736 } } } },
      }).success,
    ).to.equal(false);
  });

  it('prices the endpoint with the instance count the template gives it', () => {
    const template = loadTemplate();
    const counts = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::SageMaker::EndpointConfig')
      .flatMap((r) =>
        ((r.Properties?.ProductionVariants ?? []) as { InitialInstanceCount?: number }[]).map(
          (v) => v.InitialInstanceCount,
        ),
      );
    expect(counts).to.deep.equal([ENDPOINT_INSTANCE_COUNT]);
  });
});

describe('scripts/refresh-prices.ts: reading the Price List bulk API', () => {
  it('prices the default types and those docs/aws.md names', () => {
    expect(typesToPrice(readFileSync(join(root, 'docs', 'aws.md'), 'utf8'))).to.include.members([
      'ml.g4dn.xlarge',
      'ml.m5.large',
      'ml.m5.xlarge',
      'ml.p3.2xlarge',
    ]);
    expect(typesToPrice('')).to.deep.equal(['ml.g4dn.xlarge', 'ml.m5.large', 'ml.m5.xlarge']);
  });

  it('follows the region index to the offer files of the regions scones trains in only', () => {
    expect(
      offerUrls(fixture('region_index.json'), Object.keys(IMAGE_CLASSIFICATION_REGISTRIES)),
    ).to.deep.equal([
      {
        region: 'eu-west-1',
        url: 'https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonSageMaker/20261130225107/eu-west-1/index.json',
      },
      { region: 'us-east-1', url: OFFER_URL },
    ]);
  });

  it('keeps the on-demand hourly price per use (Train, Tsform, Host) of the wanted types: not spot, reserved, notebooks, storage or other types', () => {
    const snapshot = refreshedFromFixture();
    expect(snapshot.prices).to.deep.equal({
      'us-east-1': {
        training: {
          'ml.g4dn.xlarge': {
            usdPerHour: 0.736,
            source: `${OFFER_URL} (SKU SKUTRAING4DN, usage type USE1-Train:ml.g4dn.xlarge)`,
            date: '2026-11-30',
          },
        },
        transform: {
          'ml.m5.large': {
            usdPerHour: 0.115,
            source: `${OFFER_URL} (SKU SKUTSFORMM5L, usage type USE1-Tsform:ml.m5.large)`,
            date: '2026-11-30',
          },
        },
        hosting: {
          'ml.m5.xlarge': {
            usdPerHour: 0.23,
            source: `${OFFER_URL} (SKU SKUHOSTM5XL, usage type USE1-Host:ml.m5.xlarge)`,
            date: '2026-11-30',
          },
        },
      },
    });
    expect(snapshot.source).to.include('AmazonSageMaker/current/region_index.json');
  });

  it('refuses a file that is not a SageMaker offer file, naming what is wrong', () => {
    expect(() =>
      pricesFromOffer({ offerCode: 'AmazonEC2', products: {} }, OFFER_URL, 'us-east-1', new Set()),
    ).to.throw(/offerCode/);
  });
});
