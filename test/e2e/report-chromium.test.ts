import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { inferenceIdFor } from '../../pipeline/contracts/inference-id.js';
import { decodeImage, encodePng } from '../../pipeline/data/image.js';
import { imageStatistics } from '../../pipeline/report/image-statistics.js';
import { CaptureAggregator, labelsByInferenceId, writeReport } from '../../pipeline/report/report.js';
import { parseDefinition } from '../../pipeline/report/workflow-graph.js';
import { STATE_MACHINE_DEFINITION } from '../../pipeline/templates/template.js';
import { seededRandom } from '../../pipeline/util/random.js';
import { checkPage, ensureChromium } from '../helpers/chromium.js';
import { tempDir } from '../helpers/workspace.js';

/** A 32 x 32 image of one colour with noise, as the endpoint would receive it. */
function image(random: () => number, base: [number, number, number]): Buffer {
  const data = new Uint8Array(32 * 32 * 4);
  for (let i = 0; i < 32 * 32; i++) {
    for (let c = 0; c < 3; c++)
      data[i * 4 + c] = Math.max(0, Math.min(255, base[c]! + Math.floor(random() * 60) - 30));
    data[i * 4 + 3] = 255;
  }
  return encodePng({ width: 32, height: 32, data });
}

/** A data capture line as SageMaker writes it: the image in endpointInput (BASE64), probabilities out. */
function captureLine(png: Buffer, probabilities: number[], time: number, inferenceId: string): string {
  return JSON.stringify({
    captureData: {
      endpointInput: {
        observedContentType: 'image/png',
        mode: 'INPUT',
        data: png.toString('base64'),
        encoding: 'BASE64',
      },
      endpointOutput: {
        observedContentType: 'application/json',
        mode: 'OUTPUT',
        data: JSON.stringify(probabilities),
        encoding: 'JSON',
      },
    },
    eventMetadata: {
      eventId: `e-${time}`,
      inferenceId,
      inferenceTime: new Date(time).toISOString().replace(/\.\d+Z$/, 'Z'),
    },
    eventVersion: '0',
  });
}

describe('report in headless Chromium', function () {
  this.timeout(900_000);
  let chromium: string;

  before(function () {
    const found = ensureChromium();
    if ('missing' in found) {
      console.log(`      NOTE: Chromium report check skipped: ${found.missing}`);
      this.skip();
    }
    chromium = found.path;
  });

  it('renders a report with no console errors, every image loaded and no overlapping axis labels', async () => {
    // Prepare: 60 labelled executions over 40 seconds, some wrong, some filtered, with real images.
    const random = seededRandom(5);
    const classes = ['bicycle', 'motorcycle'];
    const colours: [number, number, number][] = [
      [60, 120, 200],
      [200, 80, 60],
    ];
    const start = Date.parse('2026-11-23T10:00:00Z');
    const cases = Array.from({ length: 60 }, (_, i) => ({ s3Key: `datasets/d/test/${i}.png`, label: i % 2 }));
    const lines = cases.map((c, i) => {
      const p = i % 7 === 0 ? 0.3 : 0.6 + random() * 0.4;
      const probabilities = c.label === 0 ? [p, 1 - p] : [1 - p, p];
      return captureLine(
        image(random, colours[c.label]!),
        probabilities,
        start + i * 700,
        inferenceIdFor(c.s3Key),
      );
    });
    const baselineImages = Array.from({ length: 200 }, (_, i) =>
      imageStatistics(decodeImage(image(random, colours[i % 2]!), 'baseline', 1024)),
    );
    const aggregator = new CaptureAggregator({
      classes,
      threshold: 0.93,
      labels: labelsByInferenceId(cases),
      baseline: {
        probabilities: Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? [0.9, 0.1] : [0.15, 0.85])),
        images: baselineImages,
      },
      minAccuracy: 0.8,
    });
    aggregator.addFile(lines.join('\n'), 'capture.jsonl');
    const summary = aggregator.summarize();
    // Two executions failed in ClassifyImage (placed on it, red) and one in a state not recorded.
    const executions = cases.map((c, i) => ({
      index: i,
      name: `run-case-${i}`,
      s3Key: c.s3Key,
      label: c.label,
      outcome: i % 7 === 0 ? ('FILTERED' as const) : ('SUCCEEDED' as const),
      durationMs: 300 + i,
    }));
    for (const i of [5, 19, 33])
      Object.assign(executions[i]!, {
        outcome: 'ERROR',
        error: 'EndpointError',
        ...(i === 33 ? {} : { failedState: 'ClassifyImage' }),
      });
    const { dir, cleanup } = tempDir();
    try {
      await writeReport(dir, 'Monitor report: browser test', summary, aggregator, {
        classes,
        header: {
          trainingId: 't-1',
          trainer: 'local',
          thresholdSource: 'test',
          runId: 'r-1',
          source: 'capture.jsonl',
        },
        executions,
        stateMachine: parseDefinition(
          readFileSync(STATE_MACHINE_DEFINITION, 'utf8'),
          STATE_MACHINE_DEFINITION,
        ),
      });
      // Act
      const check = await checkPage(chromium, join(dir, 'report.html'));
      // Assess
      expect(check.consoleErrors).to.deep.equal([]);
      expect(check.images.broken).to.deep.equal([]);
      expect(check.images.total).to.equal(
        summary.examples.misclassified.length + summary.examples.lowestConfidence.length,
      );
      expect(check.images.total).to.be.greaterThan(10);
      expect(check.charts).to.be.greaterThanOrEqual(9);
      expect(check.axisLabels).to.be.greaterThan(50);
      expect(check.overlappingAxisLabels).to.deep.equal([]);
    } finally {
      cleanup();
    }
  });
});
