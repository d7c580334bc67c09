/**
 * Regenerates test/aws-models/*.json: the request shapes of the AWS operations scones calls, trimmed from
 * botocore's published service models (data/<service>/<api-version>/service-2.json.gz, the JSON form of the
 * models the AWS SDKs are generated from; Apache-2.0). Each file names its source and botocore version.
 * It also writes pipeline/backends/aws/instance-types.json, the instance types valid for training, Batch
 * Transform and endpoints, which the configuration is checked against when it loads.
 *
 *   pip install botocore==<version>   # any recent release
 *   node --import tsx scripts/aws-models.ts [path/to/botocore]
 *
 * Without a path, the botocore that `python3 -c "import botocore"` finds is used.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

/** Operations the aws backend and the Lambdas call, per botocore service folder (S3 lib-storage included). */
export const OPERATIONS: Record<string, string[]> = {
  s3: [
    'PutObject',
    'GetObject',
    'HeadObject',
    'ListObjectsV2',
    'DeleteObject',
    'CreateMultipartUpload',
    'UploadPart',
    'CompleteMultipartUpload',
    'AbortMultipartUpload',
    // The local S3-compatible server's tests send these through the real client as well.
    'CopyObject',
    'DeleteObjects',
    'GetObjectTagging',
    'CreateBucket',
    'HeadBucket',
    'ListBuckets',
  ],
  cloudformation: [
    'DescribeStacks',
    'CreateChangeSet',
    'DescribeChangeSet',
    'DeleteChangeSet',
    'ExecuteChangeSet',
    'DeleteStack',
    'DescribeStackEvents',
  ],
  sagemaker: [
    'CreateTrainingJob',
    'DescribeTrainingJob',
    // The evaluate stage's Batch Transform.
    'CreateModel',
    'DescribeModel',
    'DeleteModel',
    'CreateTransformJob',
    'DescribeTransformJob',
    // How a guarded rollout ended (the deploy stage).
    'DescribeEndpoint',
  ],
  // Which of the rollout's alarms went to ALARM during it.
  cloudwatch: ['DescribeAlarmHistory'],
  'sagemaker-runtime': ['InvokeEndpoint'],
  stepfunctions: ['StartExecution', 'DescribeExecution', 'GetExecutionHistory'],
};

/** Shapes kept although no operation above takes them: the endpoint's instance types (CloudFormation creates it). */
const EXTRA_SHAPES: Record<string, string[]> = { sagemaker: ['ProductionVariantInstanceType'] };

interface Shape {
  type: string;
  members?: Record<string, { shape: string }>;
  member?: { shape: string };
  key?: { shape: string };
  value?: { shape: string };
  [key: string]: unknown;
}

/** Only what request validation reads: no documentation, no output shapes. */
const KEEP = [
  'type',
  'required',
  'members',
  'member',
  'key',
  'value',
  'enum',
  'min',
  'max',
  'pattern',
  'streaming',
];

function trim(
  model: {
    metadata: Record<string, unknown>;
    operations: Record<string, { input?: { shape: string }; errors?: { shape: string }[] }>;
    shapes: Record<string, Shape>;
  },
  operations: string[],
  extraShapes: string[] = [],
) {
  const shapes: Record<string, unknown> = {};
  const visit = (name: string) => {
    if (name in shapes) return;
    const shape = model.shapes[name];
    if (shape === undefined) throw new Error(`shape ${name} missing from the model`);
    const kept: Record<string, unknown> = Object.fromEntries(
      Object.entries(shape).filter(([k]) => KEEP.includes(k)),
    );
    if (shape.members !== undefined)
      kept.members = Object.fromEntries(
        Object.entries(shape.members).map(([m, ref]) => [m, { shape: ref.shape }]),
      );
    shapes[name] = kept;
    for (const ref of [...Object.values(shape.members ?? {}), shape.member, shape.key, shape.value])
      if (ref !== undefined) visit(ref.shape);
  };
  const inputs: Record<string, string | null> = {};
  /** The errors each operation documents, by error code (what a mock may answer). */
  const errors: Record<string, string[]> = {};
  for (const operation of operations) {
    const definition = model.operations[operation];
    if (definition === undefined) throw new Error(`operation ${operation} missing from the model`);
    inputs[operation] = definition.input?.shape ?? null;
    if (definition.input !== undefined) visit(definition.input.shape);
    errors[operation] = (definition.errors ?? []).map(
      (e) => (model.shapes[e.shape]?.error as { code?: string } | undefined)?.code ?? e.shape,
    );
  }
  for (const name of extraShapes) visit(name);
  return { inputs, errors, shapes };
}

/**
 * What CreateChangeSet's Capabilities documentation says needs acknowledging: the IAM resource types it lists
 * (CAPABILITY_IAM, or CAPABILITY_NAMED_IAM when custom-named), read from the documentation text itself.
 */
function capabilities(model: { shapes: Record<string, Shape> }) {
  const members = model.shapes.CreateChangeSetInput?.members as Record<string, { documentation?: string }>;
  const text = members.Capabilities?.documentation ?? '';
  const iamResourceTypes = [...new Set(text.match(/AWS::IAM::\w+/g) ?? [])].sort();
  if (iamResourceTypes.length === 0)
    throw new Error('CreateChangeSet Capabilities lists no IAM resource type');
  return {
    about: 'CreateChangeSetInput.Capabilities documentation: the IAM resource types that need CAPABILITY_IAM',
    iamResourceTypes,
    autoExpandAppliesToChangeSets: !/doesn't apply to creating change sets/.test(text),
  };
}

/** The instance types SageMaker accepts for each use, which the configuration is checked against on load. */
function writeInstanceTypes(model: { shapes: Record<string, Shape> }, source: string) {
  const enumOf = (shape: string) => {
    const values = model.shapes[shape]?.enum as string[] | undefined;
    if (values === undefined) throw new Error(`${shape} has no enum in the model`);
    return [...values].sort();
  };
  const data = {
    source,
    training: enumOf('TrainingInstanceType'),
    transform: enumOf('TransformInstanceType'),
    endpoint: enumOf('ProductionVariantInstanceType'),
  };
  const path = join(dirname(fileURLToPath(import.meta.url)), '..', 'pipeline', 'backends', 'aws');
  writeFileSync(join(path, 'instance-types.json'), `${JSON.stringify(data, null, 1)}\n`);
}

function main() {
  const botocore =
    process.argv[2] ??
    execFileSync('python3', ['-c', 'import botocore, os; print(os.path.dirname(botocore.__file__))'], {
      encoding: 'utf8',
    }).trim();
  const version = execFileSync(
    'python3',
    [
      '-c',
      'import sys; sys.path.insert(0, sys.argv[1]); import botocore; print(botocore.__version__)',
      dirname(botocore),
    ],
    {
      encoding: 'utf8',
    },
  ).trim();
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'aws-models');
  for (const [service, operations] of Object.entries(OPERATIONS)) {
    const apiVersion = readdirSync(join(botocore, 'data', service))
      .sort()
      .at(-1) as string;
    const path = join(botocore, 'data', service, apiVersion, 'service-2.json.gz');
    const model = JSON.parse(gunzipSync(readFileSync(path)).toString('utf8'));
    const file = {
      source: `botocore ${version}, data/${service}/${apiVersion}/service-2.json.gz (https://github.com/boto/botocore, Apache-2.0)`,
      service: model.metadata.serviceId,
      apiVersion,
      ...trim(model, operations, EXTRA_SHAPES[service]),
      ...(service === 'cloudformation' ? { capabilities: capabilities(model) } : {}),
    };
    writeFileSync(join(out, `${service}.json`), `${JSON.stringify(file, null, 1)}\n`);
    if (service === 'sagemaker') writeInstanceTypes(model, file.source);
    console.log(
      `${service}: ${operations.length} operations, ${Object.keys(file.shapes).length} shapes from ${file.source}`,
    );
  }
}

main();
