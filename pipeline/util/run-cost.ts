import type { Config } from '../config.js';
import type { EvaluationRecord } from '../contracts/evaluation.js';
import { type InstanceUse, type PriceSnapshot, priceSnapshotSchema } from '../contracts/prices.js';
import snapshotJson from '../contracts/sagemaker-prices.json' with { type: 'json' };
import { SconesError } from '../errors.js';
import { type Manifest, stageSection, type TrainRecord } from '../manifest.js';

const SNAPSHOT_FILE = 'pipeline/contracts/sagemaker-prices.json';
/** The endpoint's instances: `InitialInstanceCount` of the production variant in cloudformation/workflow.yaml. */
export const ENDPOINT_INSTANCE_COUNT = 1;
/** The evaluator's Batch Transform jobs each run on one instance (CreateTransformJob InstanceCount). */
const TRANSFORM_JOBS = 2;

let snapshot: PriceSnapshot | undefined;
/** The repository's price snapshot, parsed once; a malformed one fails naming the file and the refresh. */
export function priceSnapshot(): PriceSnapshot {
  if (snapshot !== undefined) return snapshot;
  const parsed = priceSnapshotSchema.safeParse(snapshotJson);
  if (!parsed.success)
    throw new SconesError(
      `${SNAPSHOT_FILE} does not match its schema (${parsed.error.message}): run scripts/refresh-prices.ts`,
    );
  snapshot = parsed.data;
  return snapshot;
}

interface JobUsage {
  instanceType: string;
  instanceCount: number;
  /** Seconds the instances ran: AWS's figure on aws, the local stage's duration locally. */
  seconds: number;
  /** The stage reused an earlier result: nothing ran, nothing was billed in this run. */
  reused: boolean;
}

/** What a run used, from its records: the input of `runCost`. */
export interface RunUsage {
  /** `aws`: AWS's own seconds; `local`: the local run's durations stand in for them. */
  measuredOn: 'aws' | 'local';
  region: string;
  training?: JobUsage & {
    /** DescribeTrainingJob BillableTimeInSeconds (less than the training time under managed spot). */
    billableSeconds?: number;
    spot: boolean;
    /** train.sagemaker.maxRuntimeSeconds: the longest a job may be billed for. */
    maxRuntimeSeconds: number;
  };
  /** Both Batch Transform jobs (test and validation); `seconds` is their instance-seconds together. */
  evaluation?: JobUsage;
  endpoint?: { instanceType: string; instanceCount: number };
}

export interface CostItem {
  item: 'training' | 'evaluation' | 'endpoint';
  /** USD for this run (training, evaluation) or per day (endpoint); absent when no price is known. */
  usd?: number;
  text: string;
}

export type RunCost = ReturnType<typeof runCost>;

/**
 * One stage's cost sentence for its job summary: what `what` cost on AWS, or locally what it would cost
 * there (the configured types, the local duration standing in for AWS's).
 */
export function stageCostLine(what: string, backend: string, usage: Omit<RunUsage, 'measuredOn'>): string {
  const measuredOn = backend === 'aws' ? 'aws' : 'local';
  const standIn = usage.endpoint === undefined ? ' (configured types, the local duration as a stand-in)' : '';
  const verb = measuredOn === 'aws' ? 'cost on AWS' : `would cost on AWS${standIn}`;
  return `${what} ${verb}: ${runCost({ ...usage, measuredOn }).items[0]?.text}.`;
}

export function formatUsd(usd: number): string {
  return usd === 0 ? '$0' : usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

/**
 * What a run cost on AWS, or would cost there: instance-seconds x instances x the on-demand hourly price of
 * the snapshot (SageMaker bills by the second). Training bills BillableTimeInSeconds x InstanceCount, and
 * managed spot saves 1 - BillableTimeInSeconds / TrainingTimeInSeconds (DescribeTrainingJob API reference);
 * Batch Transform bills TransformStartTime to TransformEndTime (DescribeTransformJob); an endpoint bills its
 * instances every hour it exists. A type without a price is named, never guessed.
 */
export function runCost(usage: RunUsage, prices: PriceSnapshot = priceSnapshot()) {
  const price = (use: InstanceUse, type: string) => prices.prices[usage.region]?.[use]?.[type];
  const missing = (type: string) =>
    `no price for ${type} in ${usage.region} in the snapshot (retrieved ${prices.retrieved}); run scripts/refresh-prices.ts`;
  const hourly = (usd: number) => `$${usd}/h`;
  const local = usage.measuredOn === 'local';
  const items: CostItem[] = [];

  /** One item: none when reused, the missing price named, else what `bill` makes of the hourly price. */
  const add = (
    item: CostItem['item'],
    use: InstanceUse,
    job: { instanceType: string; reused?: boolean },
    label: string,
    bill: (usdPerHour: number) => { usd: number; text: string },
  ) => {
    const hour = price(use, job.instanceType);
    if (job.reused)
      items.push({ item, usd: 0, text: `$0, an earlier ${item === 'training' ? 'model' : item} reused` });
    else if (hour === undefined) items.push({ item, text: `${label}: ${missing(job.instanceType)}` });
    else items.push({ item, ...bill(hour.usdPerHour) });
  };
  const billed = (label: string, instanceHours: number, usdPerHour: number, more = '') => {
    const usd = instanceHours * usdPerHour;
    return {
      usd,
      text: `${label}, ${instanceHours.toFixed(3)} instance-hours at ${hourly(usdPerHour)} = ${formatUsd(usd)}${more}`,
    };
  };

  const { training, evaluation, endpoint } = usage;
  if (training !== undefined) {
    const label = `${training.instanceCount} x ${training.instanceType}`;
    add('training', 'training', training, label, (usdPerHour) => {
      const spot = !training.spot
        ? ''
        : local
          ? '; managed spot is on: its savings are known only on AWS'
          : training.billableSeconds !== undefined && training.seconds > 0
            ? `; managed spot saved ${Math.round((1 - training.billableSeconds / training.seconds) * 100)}% (billed ${training.billableSeconds} of ${training.seconds} s)`
            : '';
      const bound = local
        ? `; at most ${formatUsd((training.maxRuntimeSeconds / 3600) * training.instanceCount * usdPerHour)} if it ran to train.sagemaker.maxRuntimeSeconds (${training.maxRuntimeSeconds} s)`
        : '';
      const seconds = training.billableSeconds ?? training.seconds;
      return billed(label, (seconds / 3600) * training.instanceCount, usdPerHour, `${spot}${bound}`);
    });
  }
  if (evaluation !== undefined) {
    const label = `${TRANSFORM_JOBS} Batch Transform jobs on ${evaluation.instanceType}`;
    add('evaluation', 'transform', evaluation, label, (usdPerHour) =>
      billed(label, (evaluation.seconds / 3600) * evaluation.instanceCount, usdPerHour),
    );
  }
  if (endpoint !== undefined) {
    const label = `${endpoint.instanceCount} x ${endpoint.instanceType}`;
    add('endpoint', 'hosting', endpoint, label, (usdPerHour) => {
      const usd = usdPerHour * endpoint.instanceCount * 24;
      return { usd, text: `${label} at ${hourly(usdPerHour)} = ${formatUsd(usd)} per day while deployed` };
    });
  }

  const ran = items.filter((i) => i.item !== 'endpoint');
  const runUsd = ran.every((i) => i.usd !== undefined)
    ? ran.reduce((sum, i) => sum + (i.usd ?? 0), 0)
    : undefined;
  const endpointUsdPerDay = items.find((i) => i.item === 'endpoint')?.usd;
  const known = ran.reduce((sum, i) => sum + (i.usd ?? 0), 0);
  const priced = runUsd !== undefined;
  const amount = formatUsd(runUsd ?? known);
  const incomplete = priced ? '' : '; prices missing';
  const day =
    endpointUsdPerDay === undefined
      ? ''
      : `; the endpoint ${local ? 'would add' : 'adds'} ${formatUsd(endpointUsdPerDay)} per day`;
  const headline = local
    ? `On AWS this run would cost ${priced ? 'about' : 'at least'} ${amount} (configured types, local durations as a stand-in for AWS's${incomplete})${day}`
    : `This run cost ${priced ? '' : 'at least '}${amount} on AWS (training and evaluation, on-demand${incomplete})${day}`;
  return {
    items,
    // Training and evaluation in this run, when every one that ran has a price.
    ...(runUsd === undefined ? {} : { runUsd }),
    ...(endpointUsdPerDay === undefined ? {} : { endpointUsdPerDay }),
    /** One sentence: what the run cost (aws) or would cost on AWS (local), and the endpoint per day. */
    headline,
    prices: `on-demand ${prices.currency} prices per region and instance type from ${SNAPSHOT_FILE} (retrieved ${prices.retrieved})`,
  };
}

/** A training record's usage: the configured instances, AWS's seconds on aws (the local duration locally). */
export function trainingUsage(
  model: TrainRecord,
  config: Config,
  reused: boolean,
): NonNullable<RunUsage['training']> {
  const sm = config.train.sagemaker;
  return {
    instanceType: sm.instanceType,
    instanceCount: sm.instanceCount,
    seconds: model.durationSeconds,
    ...(model.billableSeconds === undefined ? {} : { billableSeconds: model.billableSeconds }),
    spot: sm.spot,
    maxRuntimeSeconds: sm.maxRuntimeSeconds,
    reused,
  };
}

/** An evaluation record's usage: the transform jobs' billed instance-seconds on aws, the stage's duration locally. */
export function evaluationUsage(
  evaluation: EvaluationRecord,
  config: Config,
  reused: boolean,
): NonNullable<RunUsage['evaluation']> {
  return {
    instanceType: config.evaluate.transformInstanceType,
    instanceCount: 1,
    seconds: evaluation.billableSeconds ?? evaluation.durationSeconds,
    reused,
  };
}

export function endpointUsage(config: Config): NonNullable<RunUsage['endpoint']> {
  return { instanceType: config.deploy.endpointInstanceType, instanceCount: ENDPOINT_INSTANCE_COUNT };
}

/** A run's usage from its manifest (train, evaluate and deploy records); stages that have not run are left out. */
export function runUsageOf(manifest: Manifest, config: Config): RunUsage {
  const train = stageSection(manifest, 'train');
  const evaluate = stageSection(manifest, 'evaluate');
  const deployed = stageSection(manifest, 'deploy')?.outputs.deployment;
  return {
    measuredOn: manifest.backend === 'aws' ? 'aws' : 'local',
    region: config.region,
    ...(train === undefined ? {} : { training: trainingUsage(train.outputs, config, train.reused) }),
    ...(evaluate === undefined
      ? {}
      : { evaluation: evaluationUsage(evaluate.outputs, config, evaluate.reused) }),
    ...(deployed === undefined ? {} : { endpoint: endpointUsage(config) }),
  };
}

/** The cost as Markdown: the headline, one line per item, where the prices come from. */
export function costMarkdown(cost: RunCost): string {
  return [
    `**${cost.headline}.**`,
    '',
    ...cost.items.map((i) => `- ${i.item}: ${i.text}`),
    '',
    `Prices: ${cost.prices}.`,
    '',
  ].join('\n');
}
