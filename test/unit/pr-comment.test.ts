import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { EvaluationRecord } from '../../pipeline/contracts/evaluation.js';
import {
  PR_COMMENT_MARKER,
  prCommentBody,
  readEvaluation,
  readMainEvaluation,
} from '../../pipeline/report/pr-comment.js';
import { automationRecord } from '../../pipeline/util/automation.js';
import { classificationQuality } from '../../pipeline/util/classification-metrics.js';
import { tempDir } from '../helpers/workspace.js';

const CLASSES = ['bicycle', 'motorcycle'];
const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'pr-comment.ts');

/** An evaluation of `right` correct out of 10 per class, measured by the metrics code from predictions. */
function evaluation(trainingId: string, rightPerClass: [number, number]): EvaluationRecord {
  const predictions = CLASSES.flatMap((_, label) =>
    Array.from({ length: 10 }, (_, i) => {
      const hit = i < rightPerClass[label]!;
      const p = hit ? 0.9 : 0.2;
      return { label, probabilities: label === 0 ? [p, 1 - p] : [1 - p, p] };
    }),
  );
  return {
    trainingId,
    datasetDigest: 'd1',
    testSplitDigest: 'split-1',
    evaluator: 'local',
    quality: classificationQuality(predictions, CLASSES, 'test'),
    durationSeconds: 1,
  };
}

describe('pull request model feedback comment', () => {
  it('drives the comment from main and the PR evaluation documents: deltas, matrices side by side, preview, link', () => {
    // Prepare: main 8+8 right of 20, the PR 9+6. Main's from a report.json, the PR's from a run manifest.
    const { dir, cleanup } = tempDir();
    try {
      const main = evaluation('main-model', [8, 8]);
      const pr = evaluation('pr-model', [9, 6]);
      writeFileSync(join(dir, 'report.json'), JSON.stringify({ records: 3, evaluation: main }));
      writeFileSync(
        join(dir, 'manifest.json'),
        JSON.stringify({ runId: 'pr-1', stages: { evaluate: { outputs: pr } } }),
      );
      writeFileSync(join(dir, 'preview.md'), '| action | resource |\n| --- | --- |\n| Modify | Endpoint |\n');
      // Act
      execFileSync(process.execPath, [
        '--import',
        'tsx',
        SCRIPT,
        '--pr',
        join(dir, 'manifest.json'),
        '--main',
        join(dir, 'report.json'),
        '--preview',
        join(dir, 'preview.md'),
        '--report-url',
        'https://example.invalid/artifact/1',
        '--out',
        join(dir, 'comment.md'),
      ]);
      const body = readFileSync(join(dir, 'comment.md'), 'utf8');
      // Assess: 15/20 against 16/20 is -5.0 points; bicycle F1 9/10 recall vs 8/10 ...
      expect(body.startsWith(PR_COMMENT_MARKER)).to.equal(true);
      expect(body).to.include('| accuracy (held-out test) | 75.0% (95% interval');
      expect(body).to.match(/\| 80\.0% \(95% interval [\d.]+%–[\d.]+%, 20 test images\) \| −5\.0 pts \|/);
      const bicycleF1 = (2 * (9 / 13) * 0.9) / (9 / 13 + 0.9);
      expect(body).to.include(`| bicycle | ${bicycleF1.toFixed(3)} | 0.800 |`);
      expect(body).to.include(
        '<tr><th>bicycle</th><td>9</td><td>1</td></tr><tr><th>motorcycle</th><td>4</td><td>6</td></tr>',
      );
      expect(body).to.include(
        '<tr><th>bicycle</th><td>8</td><td>2</td></tr><tr><th>motorcycle</th><td>2</td><td>8</td></tr>',
      );
      expect(body).to.include('| Modify | Endpoint |');
      expect(body).to.include('[artifact](https://example.invalid/artifact/1)');
    } finally {
      cleanup();
    }
  });

  it('says when main was evaluated on another test split, and when there is no main evaluation', () => {
    const other = { ...evaluation('main-model', [8, 8]), testSplitDigest: 'split-2' };
    expect(prCommentBody({ pr: evaluation('pr', [9, 9]), main: other })).to.include(
      'evaluated on a different test split',
    );
    const alone = prCommentBody({ pr: evaluation('pr', [9, 9]) });
    expect(alone).to.include("No evaluation of main's model was found");
    expect(alone).to.include('| accuracy (held-out test) | 90.0%');
  });

  it('shows the automation figures beside main and the curve with the deployed threshold marked', () => {
    // Validation = test here: 9+6 right of 20 (PR), 8+8 (main); every right prediction at 0.9, wrong at 0.8.
    const withAutomation = (e: EvaluationRecord, right: [number, number]) => {
      const predictions = CLASSES.flatMap((_, label) =>
        Array.from({ length: 10 }, (_, i) => {
          const p = i < right[label]! ? 0.9 : 0.2;
          return { label, probabilities: label === 0 ? [p, 1 - p] : [1 - p, p] };
        }),
      );
      const automation = automationRecord({
        validation: predictions,
        test: predictions,
        targetAccuracy: 0.97,
        threshold: 'auto',
      });
      return { ...e, automation };
    };
    const pr = withAutomation(evaluation('pr-model', [9, 6]), [9, 6]);
    const main = withAutomation(evaluation('main-model', [8, 8]), [8, 8]);
    const body = prCommentBody({ pr, main });
    // Threshold 0.9 keeps the 15 right ones of the PR (75%) and main's 16 (80%), all right.
    expect(body).to.include(
      "This pull request's model routes 75.0% of orders automatically at 100.0% accuracy",
    );
    expect(body).to.match(
      /\| routed automatically \(held out, 95% interval\) \| 75\.0% \([\d.]+%–[\d.]+%\) \| 80\.0% .*\| −5\.0 pts \|/,
    );
    expect(body).to.include(
      '| threshold (chosen off the test split) | 0.9000 (auto, measured) | 0.9000 (auto, measured) | |',
    );
    expect(body).to.include('| **▶ 0.9000** | **75.0%** | **100.0%** | | |');
    expect(body).to.include('| 0.85 | 75.0% | 100.0% | 80.0% | 100.0% |');
    expect(body).to.include('target 97.0%');
  });

  it('refuses a document without an evaluation with exit code 2 and the file named', () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ runId: 'r', stages: {} }));
      expect(() => readEvaluation('{"stages":{}}', 'm.json')).to.throw(/m\.json is not an evaluation/);
      const result = spawnSync(
        process.execPath,
        ['--import', 'tsx', SCRIPT, '--pr', join(dir, 'manifest.json'), '--out', join(dir, 'c.md')],
        { encoding: 'utf8' },
      );
      expect(result.status).to.equal(2);
      expect(result.stderr).to.include('manifest.json is not an evaluation');
    } finally {
      cleanup();
    }
  });

  it('refuses a FIFO given as a document with exit 2 instead of hanging on it', () => {
    const { dir, cleanup } = tempDir();
    try {
      const fifo = join(dir, 'manifest.json');
      execFileSync('mkfifo', [fifo]);
      const result = spawnSync(
        process.execPath,
        ['--import', 'tsx', SCRIPT, '--pr', fifo, '--out', join(dir, 'c.md')],
        {
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      expect(result.status, result.stderr).to.equal(2);
      expect(result.stderr).to.include(`--pr ${fifo} is a FIFO (named pipe), not a file`);
    } finally {
      cleanup();
    }
  });

  it("main's run that stopped before evaluate, or its report without one, leaves the PR's model alone in the comment", () => {
    expect(readMainEvaluation('{"runId":"r","stages":{"train":{}}}', 'main.json')).to.equal(undefined);
    expect(readMainEvaluation('{"records":0,"evaluation":null}', 'report.json')).to.equal(undefined);
    expect(() => readMainEvaluation('{"evaluation":{"trainingId":1}}', 'report.json')).to.throw(
      /report\.json is not an evaluation/,
    );
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'pr.json'), JSON.stringify(evaluation('pr-model', [9, 6])));
      writeFileSync(join(dir, 'report.json'), JSON.stringify({ records: 0, evaluation: null }));
      const args = [
        '--pr',
        join(dir, 'pr.json'),
        '--main',
        join(dir, 'report.json'),
        '--out',
        join(dir, 'c.md'),
      ];
      const result = spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, ...args], { encoding: 'utf8' });
      expect(result.status, result.stderr).to.equal(0);
      expect(readFileSync(join(dir, 'c.md'), 'utf8')).to.include("No evaluation of main's model was found");
    } finally {
      cleanup();
    }
  });
});
