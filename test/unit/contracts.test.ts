import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { inCaptureWindow } from '../../pipeline/backends/aws/capture.js';
import type { CaptureRecord } from '../../pipeline/contracts/capture.js';
import { sniffImageFormat } from '../../pipeline/contracts/image-format.js';
import { LAMBDA_ERROR_NAMES } from '../../pipeline/contracts/lambda.js';
import { captureHourPrefix, datasetKeys, testExecutionsKey } from '../../pipeline/contracts/layout.js';
import type { CaseResult } from '../../pipeline/contracts/test-executions.js';
import type { ObjectInfo, ObjectStore } from '../../pipeline/ports.js';
import { parseCaptureLine } from '../../pipeline/report/capture.js';
import {
  classifyOutcome,
  drawTestCases,
  readTestExecutions,
  summarize,
} from '../../pipeline/stages/test-executions.js';
import { rejection } from '../helpers/assertions.js';
import { jpegBytes, pngBytes } from '../helpers/fixtures.js';

const ROOT = join(import.meta.dirname, '..', '..');

function sourceFiles(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(folder, name));
}

function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^;]*?from\s+'([^']+)'/g)].map((m) => m[1] as string);
}

/** An object store in memory: what the stage wrote is what it reads back. */
function memoryStore(): ObjectStore & { objects: Map<string, Uint8Array> } {
  const objects = new Map<string, Uint8Array>();
  return {
    objects,
    bucket: 'contracts-test',
    uri: (key) => `s3://contracts-test/${key}`,
    put: async (key, body) => {
      objects.set(key, typeof body === 'string' ? Buffer.from(body) : body);
    },
    get: async (key) => {
      const body = objects.get(key);
      if (body === undefined) throw Object.assign(new Error(`no ${key}`), { name: 'NoSuchKey' });
      return body;
    },
    head: async (key): Promise<ObjectInfo | undefined> => {
      const body = objects.get(key);
      return body === undefined ? undefined : { key, size: body.length };
    },
    async *list(prefix) {
      for (const [key, body] of objects) if (key.startsWith(prefix)) yield { key, size: body.length };
    },
    delete: async (key) => {
      objects.delete(key);
    },
  };
}

describe('contracts', () => {
  it('pipeline/contracts imports only zod, node:crypto (the inference id digest) and other contracts', () => {
    const files = sourceFiles('pipeline/contracts');
    expect(files.length).to.be.above(5);
    for (const file of files)
      for (const target of importsOf(file))
        expect(
          ['zod', 'node:crypto'].includes(target) || /^\.\/[a-z-]+\.js$/.test(target),
          `${file}: ${target}`,
        ).to.be.true;
  });

  it('the Lambdas import only pipeline/contracts, their own shared folder, zod, the AWS SDK and node:', () => {
    const files = sourceFiles('lambdas');
    const targets = files.flatMap((file) => importsOf(file).map((target) => ({ file, target })));
    expect(targets.some((t) => t.target.includes('pipeline/contracts/'))).to.be.true;
    for (const { file, target } of targets)
      expect(
        /^\.\.\/\.\.\/pipeline\/contracts\/[a-z-]+\.js$/.test(target) ||
          /^\.\.?\/(shared\/)?[a-z-]+\.js$/.test(target) ||
          target === 'zod' ||
          target.startsWith('@aws-sdk/') ||
          target.startsWith('node:'),
        `${file}: ${target}`,
      ).to.be.true;
  });

  it('the image sniffer tells PNG (8-byte signature) and JPEG (FF D8 FF) from anything else', () => {
    expect(sniffImageFormat(pngBytes(2, 2, 1))).to.equal('png');
    expect(sniffImageFormat(jpegBytes(8, 8, 1))).to.equal('jpeg');
    expect(sniffImageFormat(Buffer.from('GIF89a'))).to.equal(undefined);
    // The first four PNG bytes alone are not the signature.
    expect(sniffImageFormat(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]))).to.equal(undefined);
  });

  it('a capture record as the model server writes it parses back to its probabilities and inference id', () => {
    const image = pngBytes(2, 2, 3);
    const record: CaptureRecord = {
      captureData: {
        endpointInput: {
          observedContentType: 'image/png',
          mode: 'INPUT',
          data: image.toString('base64'),
          encoding: 'BASE64',
        },
        endpointOutput: {
          observedContentType: 'application/json',
          mode: 'OUTPUT',
          data: JSON.stringify([0.25, 0.75]),
          encoding: 'JSON',
        },
      },
      eventMetadata: {
        eventId: 'e-1',
        inferenceId: 'datasets/x/test/a.png',
        inferenceTime: '2026-11-22T10:00:01Z',
      },
      eventVersion: '0',
    };
    const parsed = parseCaptureLine(JSON.stringify(record));
    expect(parsed.probabilities).to.deep.equal([0.25, 0.75]);
    expect(parsed.inferenceId).to.equal('datasets/x/test/a.png');
    expect(parsed.time).to.equal(Date.parse('2026-11-22T10:00:01Z'));
    expect(parsed.input?.().equals(image)).to.be.true;
    const wrongType = {
      ...record,
      captureData: { endpointOutput: { ...record.captureData.endpointOutput, data: 7 } },
    };
    expect(() => parseCaptureLine(JSON.stringify(wrongType))).to.throw(
      /^captureData\.endpointOutput\.data: /,
    );
  });

  it('a capture file in the hour folder the layout names is the one the aws capture wait reads for that hour', () => {
    const folder = captureHourPrefix({
      capturePrefix: 'data-capture',
      endpointName: 'ep',
      variantName: 'AllTraffic',
      inferenceTime: '2026-11-22T10:59:59Z',
    });
    expect(folder).to.equal('data-capture/ep/AllTraffic/2026/11/22/10/');
    const at = (iso: string) => ({ from: Date.parse(iso), to: Date.parse(iso) });
    expect(inCaptureWindow(`${folder}59-59-000-x.jsonl`, at('2026-11-22T10:59:59Z'))).to.be.true;
    expect(inCaptureWindow(`${folder}59-59-000-x.jsonl`, at('2026-11-22T11:00:00Z'))).to.be.false;
  });

  describe('test-executions document', () => {
    const prefix = 'datasets/d1/';
    const cases = drawTestCases({
      entries: [
        { label: 0, path: 'cat/1.png' },
        { label: 1, path: 'dog/2.png' },
      ],
      count: 2,
      seed: 3,
      bucket: 'contracts-test',
      prefix,
      runId: 'r1',
    });

    it('draws its cases from the test images of the layout', () => {
      for (const testCase of cases)
        expect(testCase.input.s3_key.startsWith(datasetKeys(prefix).testImages)).to.be.true;
    });

    it('sorts outputs by the Lambda contract: probabilities in the body, the filter error name as FILTERED', () => {
      const [first, second] = cases as [(typeof cases)[number], (typeof cases)[number]];
      const passed = classifyOutcome(first, {
        name: 'case',
        status: 'SUCCEEDED',
        durationMs: 5,
        output: { statusCode: 200, body: { inferences: [0.1, 0.9] } },
      });
      expect(passed).to.include({ outcome: 'SUCCEEDED', predicted: 1, confidence: 0.9 });
      const filtered = classifyOutcome(second, {
        name: 'case',
        status: 'FAILED',
        durationMs: 5,
        error: LAMBDA_ERROR_NAMES.thresholdConfidenceNotMet,
      });
      expect(filtered.outcome).to.equal('FILTERED');
      const noProbabilities = classifyOutcome(second, {
        name: 'case',
        status: 'SUCCEEDED',
        durationMs: 5,
        output: { statusCode: 200, body: { inferences: [] } },
      });
      expect(noProbabilities).to.include({ outcome: 'ERROR', error: 'UnexpectedOutput' });
    });

    it('reads back what was written, and refuses a document that breaks the contract, naming the field', async () => {
      const store = memoryStore();
      const results = cases.map((testCase, index) =>
        classifyOutcome(testCase, {
          name: 'case',
          status: 'SUCCEEDED',
          durationMs: 10 + index,
          output: { body: { inferences: [0.2, 0.8] } },
        }),
      );
      const document = executionsDocument(results);
      await store.put(testExecutionsKey('r1'), JSON.stringify(document));
      expect(await readTestExecutions(store, 'r1')).to.deep.equal(document);

      const { s3Key: _dropped, ...withoutKey } = results[0]!;
      await store.put(testExecutionsKey('r1'), JSON.stringify({ ...document, results: [withoutKey] }));
      const broken = await rejection(readTestExecutions(store, 'r1'));
      expect(broken.message)
        .to.include('s3://contracts-test/runs/r1/test-executions.json')
        .and.include('results.0.s3Key');

      await store.put(testExecutionsKey('r1'), '{"runId": "r1", trunc');
      expect((await rejection(readTestExecutions(store, 'r1'))).message).to.include('is not valid JSON');
    });

    it('records the state a failed or filtered execution stopped in; documents written before it still read', async () => {
      // Prepare
      const store = memoryStore();
      const [first, second] = cases as [(typeof cases)[number], (typeof cases)[number]];
      // Act
      const failed = classifyOutcome(first, {
        name: 'case',
        status: 'FAILED',
        durationMs: 7,
        error: 'EndpointError',
        cause: 'endpoint ep failed',
        failedState: 'ClassifyImage',
      });
      const filtered = classifyOutcome(second, {
        name: 'case',
        status: 'FAILED',
        durationMs: 7,
        error: LAMBDA_ERROR_NAMES.thresholdConfidenceNotMet,
        failedState: 'FilterInferences',
      });
      const unknown = classifyOutcome(second, { name: 'case', status: 'TIMED_OUT', durationMs: 7 });
      // Assess
      expect(failed).to.include({ outcome: 'ERROR', error: 'EndpointError', failedState: 'ClassifyImage' });
      expect(filtered).to.include({ outcome: 'FILTERED', failedState: 'FilterInferences' });
      expect(unknown).to.not.have.property('failedState');
      const document = executionsDocument([failed, filtered]);
      await store.put(testExecutionsKey('r1'), JSON.stringify(document));
      expect((await readTestExecutions(store, 'r1')).results.map((r) => r.failedState)).to.deep.equal([
        'ClassifyImage',
        'FilterInferences',
      ]);
      const { failedState: _before, ...older } = failed;
      await store.put(testExecutionsKey('r1'), JSON.stringify({ ...document, results: [older] }));
      expect((await readTestExecutions(store, 'r1')).results[0]).to.not.have.property('failedState');
      await store.put(
        testExecutionsKey('r1'),
        JSON.stringify({ ...document, results: [{ ...failed, failedState: '' }] }),
      );
      expect((await rejection(readTestExecutions(store, 'r1'))).message).to.include('results.0.failedState');
    });
  });
});

/** A test-executions document of run r1 holding `results`, as the stage writes it. */
function executionsDocument(results: CaseResult[]) {
  return {
    runId: 'r1',
    startedAt: '2026-11-22T10:00:00.000Z',
    finishedAt: '2026-11-22T10:00:05.000Z',
    endpointName: 'ep',
    trainingId: 't1',
    summary: summarize(results),
    results,
  };
}
