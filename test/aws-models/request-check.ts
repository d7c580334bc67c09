import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { SFNClient } from '@aws-sdk/client-sfn';

/**
 * Checks every AWS request the tests send, mocked (aws-sdk-client-mock's sinon stubs) or real, against the
 * service's published model (botocore's service-2.json, trimmed by scripts/aws-models.ts): required
 * members, unknown members, types, enums, lengths, ranges and patterns. A misspelt or out-of-range
 * parameter fails the run, naming the test, operation and member.
 */

interface ShapeRef {
  shape: string;
}
interface Shape {
  type: string;
  required?: string[];
  members?: Record<string, ShapeRef>;
  member?: ShapeRef;
  key?: ShapeRef;
  value?: ShapeRef;
  enum?: string[];
  min?: number;
  max?: number;
  pattern?: string;
}
export interface ServiceModel {
  source: string;
  service: string;
  inputs: Record<string, string | null>;
  shapes: Record<string, Shape>;
}

const here = dirname(fileURLToPath(import.meta.url));
export function loadModel(file: string): ServiceModel {
  return JSON.parse(readFileSync(join(here, `${file}.json`), 'utf8')) as ServiceModel;
}

/** What the request for `operation` breaks in the model; empty when it is valid. */
export function requestProblems(model: ServiceModel, operation: string, input: unknown): string[] {
  if (!(operation in model.inputs))
    return [`${model.service} ${operation} is not in test/aws-models (add it to scripts/aws-models.ts)`];
  const root = model.inputs[operation];
  if (root === null || root === undefined) return [];
  const problems: string[] = [];
  check(model, root, input, `${model.service} ${operation}`, problems);
  return problems;
}

function check(
  model: ServiceModel,
  shapeName: string,
  value: unknown,
  where: string,
  problems: string[],
): void {
  const shape = model.shapes[shapeName];
  if (shape === undefined) {
    problems.push(`${where}: shape ${shapeName} missing from the model`);
    return;
  }
  if (value === undefined) return;
  const fail = (message: string): void => {
    problems.push(`${where} ${message}`);
  };
  switch (shape.type) {
    case 'structure': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        fail('must be an object');
        return;
      }
      const record = value as Record<string, unknown>;
      for (const name of shape.required ?? [])
        if (record[name] === undefined) fail(`is missing required member ${name}`);
      for (const [name, member] of Object.entries(record)) {
        const ref = shape.members?.[name];
        if (ref === undefined && !PASSED_THROUGH.has(`${shapeName}.${name}`)) fail(`has no member ${name}`);
        else if (ref === undefined) continue;
        else check(model, ref.shape, member, `${where}.${name}`, problems);
      }
      return;
    }
    case 'list': {
      if (!Array.isArray(value)) {
        fail('must be a list');
        return;
      }
      bounds(value.length, shape, 'items', fail);
      for (const [i, item] of value.entries())
        check(model, shape.member?.shape ?? '', item, `${where}[${i}]`, problems);
      return;
    }
    case 'map': {
      if (typeof value !== 'object' || value === null) {
        fail('must be a map');
        return;
      }
      const entries = Object.entries(value as Record<string, unknown>);
      bounds(entries.length, shape, 'entries', fail);
      for (const [k, v] of entries) {
        check(model, shape.key?.shape ?? '', k, `${where} key`, problems);
        check(model, shape.value?.shape ?? '', v, `${where}.${k}`, problems);
      }
      return;
    }
    case 'string': {
      if (typeof value !== 'string') {
        fail(`must be a string, not ${typeof value}`);
        return;
      }
      if (shape.enum !== undefined && !shape.enum.includes(value))
        fail(`= ${JSON.stringify(value)} is not one of ${shape.enum.join(', ')}`);
      bounds([...value].length, shape, 'characters', fail);
      if (shape.pattern !== undefined && !patternOf(shape.pattern).test(value))
        fail(`= ${JSON.stringify(value.slice(0, 80))} does not match ${shape.pattern}`);
      return;
    }
    case 'integer':
    case 'long':
    case 'float':
    case 'double': {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        fail('must be a number');
        return;
      }
      if ((shape.type === 'integer' || shape.type === 'long') && !Number.isInteger(value))
        fail('must be a whole number');
      if (shape.min !== undefined && value < shape.min) fail(`= ${value} is below ${shape.min}`);
      if (shape.max !== undefined && value > shape.max) fail(`= ${value} is above ${shape.max}`);
      return;
    }
    case 'boolean':
      if (typeof value !== 'boolean') fail('must be a boolean');
      return;
    case 'timestamp':
      if (!(value instanceof Date) && typeof value !== 'number' && typeof value !== 'string')
        fail('must be a timestamp');
      return;
    default:
      // blob (bytes, string or stream): any body the SDK can send.
      return;
  }
}

/**
 * Members @aws-sdk/lib-storage's Upload passes on from the PutObject-style parameters it was given; the SDK's
 * serializer drops them (a member our own code misspells is dropped the same way, which is why the rest fail).
 */
const PASSED_THROUGH = new Set(['CreateMultipartUploadRequest.Body', 'CompleteMultipartUploadRequest.Body']);

function bounds(count: number, shape: Shape, unit: string, fail: (m: string) => void): void {
  if (shape.min !== undefined && count < shape.min) fail(`has ${count} ${unit}, fewer than ${shape.min}`);
  if (shape.max !== undefined && count > shape.max) fail(`has ${count} ${unit}, more than ${shape.max}`);
}

const patterns = new Map<string, RegExp>();
/**
 * The services match the whole value (CloudFormation API reference, CreateChangeSet ChangeSetName: "can contain
 * only alphanumeric, case sensitive characters, and hyphens"), while the JSON pattern `[a-zA-Z][-a-zA-Z0-9]*`
 * would match a part of "run_1": so each pattern is anchored here.
 */
function patternOf(pattern: string): RegExp {
  let regex = patterns.get(pattern);
  if (regex === undefined) {
    // A few models use Java's \A, \z and \p{Print} (printable ASCII); ECMAScript spells them otherwise.
    const ecma = pattern
      .replace(/\\A|\\[zZ]/g, '')
      .replace(/\[\\p\{Print\}\]/g, '[\\x20-\\x7E]')
      .replace(/\\p\{Print\}/g, '\\x20-\\x7E');
    regex = new RegExp(`^(?:${ecma})$`, 'u');
    patterns.set(pattern, regex);
  }
  return regex;
}

/** The clients the project uses, with the model file of each. */
const CLIENTS: [abstract new (...args: never[]) => unknown, string][] = [
  [S3Client, 's3'],
  [CloudFormationClient, 'cloudformation'],
  [CloudWatchClient, 'cloudwatch'],
  [SageMakerClient, 'sagemaker'],
  [SageMakerRuntimeClient, 'sagemaker-runtime'],
  [SFNClient, 'stepfunctions'],
];

interface SentCommand {
  constructor: { name: string };
  input: unknown;
}
interface StubCall {
  args: unknown[];
}

const models = new Map<string, ServiceModel>();
const model = (file: string) => {
  let m = models.get(file);
  if (m === undefined) {
    m = loadModel(file);
    models.set(file, m);
  }
  return m;
};
const checkedCalls = new WeakSet<object>();
const realSends: { file: string; command: SentCommand }[] = [];
const found: string[] = [];
let checkedCount = 0;

function checkCommand(file: string, command: SentCommand, test: string): void {
  const operation = command.constructor.name.replace(/Command$/, '');
  checkedCount++;
  for (const problem of requestProblems(model(file), operation, command.input))
    found.push(`${test}: ${problem}`);
}

/** Root hooks (.mocharc): record real sends, read the mocks' recorded calls after each test, report at the end. */
export const mochaHooks = {
  beforeAll(): void {
    for (const [Client, file] of CLIENTS) {
      const base = Object.getPrototypeOf((Client as unknown as { prototype: object }).prototype) as {
        send: (...a: unknown[]) => unknown;
      };
      const original = base.send;
      if ((original as { sconesChecked?: boolean }).sconesChecked) continue;
      const wrapped = function (this: unknown, ...args: unknown[]) {
        const match = CLIENTS.find(([C]) => this instanceof C);
        if (match !== undefined) realSends.push({ file: match[1], command: args[0] as SentCommand });
        return original.apply(this, args);
      };
      Object.assign(wrapped, { sconesChecked: true });
      base.send = wrapped;
      void file;
    }
  },
  afterEach(this: { currentTest?: { fullTitle(): string } }): void {
    const test = this.currentTest?.fullTitle() ?? 'a test';
    for (const [Client, file] of CLIENTS) {
      const prototype = (Client as unknown as { prototype: { send?: { getCalls?: () => StubCall[] } } })
        .prototype;
      const send = Object.hasOwn(prototype, 'send') ? prototype.send : undefined;
      for (const call of send?.getCalls?.() ?? []) {
        if (checkedCalls.has(call)) continue;
        checkedCalls.add(call);
        const command = call.args[0] as SentCommand | undefined;
        if (command?.input !== undefined) checkCommand(file, command, test);
      }
    }
    for (const { file, command } of realSends.splice(0)) checkCommand(file, command, test);
  },
  afterAll(): void {
    if (found.length > 0)
      throw new Error(`AWS requests that the service models reject:\n  ${[...new Set(found)].join('\n  ')}`);
    console.log(
      `AWS request check: ${checkedCount} requests checked against test/aws-models (botocore service models)`,
    );
  },
};
