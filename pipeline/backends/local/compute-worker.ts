/**
 * A worker thread of the compute pool (compute-pool.ts): it runs one job at a time, on its own
 * TensorFlow.js WebAssembly backend, and answers with the result or the error's name and message.
 */
import { parentPort } from 'node:worker_threads';
import { PlainReporter, type Progress } from '../../console-reporter.js';
import { SconesError } from '../../errors.js';
import { backboneFeatures } from './backbone.js';
import type { ComputeJob, ComputeReply } from './compute-pool.js';
import { trainHead } from './head.js';
import { headProbabilities } from './model.js';
import { initTensorflow } from './tf.js';

const port = parentPort;
if (port === null) throw new Error('compute-worker.ts runs as a worker thread of compute-pool.ts');
// The process's stdout carries --json: what a library logs here goes to stderr. (Capturing the worker's
// stdout instead would hold a handle that keeps the process from exiting.)
for (const method of ['log', 'info', 'debug'] as const) console[method] = console.error;

port.on('message', async ({ id, job }: { id: number; job: ComputeJob }) => {
  let reply: ComputeReply;
  try {
    await initTensorflow();
    reply = { id, ok: true, result: await run(job) };
  } catch (error) {
    const { name, message, stack } = error instanceof Error ? error : new Error(String(error));
    reply = {
      id,
      ok: false,
      name,
      message,
      ...(stack === undefined ? {} : { stack }),
      ...(error instanceof SconesError ? { exitCode: error.exitCode } : {}),
    };
  }
  port.postMessage(reply);
});

async function run(job: ComputeJob) {
  if (job.kind === 'features')
    return {
      plain: backboneFeatures(job.inputs, job.side, false),
      mirrored: job.mirrored ? backboneFeatures(job.inputs, job.side, true) : [],
    };
  const reporter = new KeptLines();
  const head = await trainHead(job.train, job.validation, job.hp, job.classes, reporter, Date.now, job.label);
  try {
    return {
      probabilities: headProbabilities(head.model, job.heldOut),
      best: head.best,
      infos: reporter.lines,
    };
  } finally {
    head.model.dispose();
  }
}

/** A head's lines (early stop), sent back with its result; its per-epoch progress stays here (the pool shows one bar for the heads). */
class KeptLines extends PlainReporter {
  readonly lines: string[] = [];
  protected override write(line: string): void {
    this.lines.push(line);
  }
  override progress(): Progress {
    return { tick() {}, done() {} };
  }
}
