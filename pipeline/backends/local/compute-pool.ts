import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SconesError } from '../../errors.js';
import type { LabelledFeatures, LocalHyperparameters } from './head.js';
import type { Features } from './model.js';

/** What a compute worker runs (compute-worker.ts). */
export type ComputeJob =
  | { kind: 'features'; inputs: Float32Array[]; side: number; mirrored: boolean }
  | {
      kind: 'head';
      train: LabelledFeatures;
      validation: LabelledFeatures;
      heldOut: Features;
      hp: LocalHyperparameters;
      classes: number;
      label: string;
    };

export interface HeadResult {
  probabilities: number[][];
  best: { accuracy: number; epoch: number };
  infos: string[];
}

export type ComputeReply =
  | { id: number; ok: true; result: Features | HeadResult }
  | { id: number; ok: false; name: string; message: string; stack?: string; exitCode?: number };

/**
 * Workers at most: the cross-fitted heads are 4, and each worker holds a WebAssembly backend and a
 * backbone of its own (a real-images run peaked at 1.26 GB resident with two workers against 0.80 GB
 * on one thread: docs/local-backend.md), so more would add memory, not speed.
 */
const MAX_WORKERS = 4;

interface Slot {
  worker: Worker;
  busy: boolean;
}

interface Queued {
  job: ComputeJob;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
}

/** How to start a worker: a file and the Node options it needs. */
export interface WorkerFile {
  path: string;
  execArgv: string[];
}

/**
 * The worker beside the compiled CLI's chunks (scripts/build-cli.mjs), or the source through tsx when the
 * sources run. A compiled CLI without it is incomplete, and says so.
 */
function computeWorkerFile(): WorkerFile {
  const here = fileURLToPath(import.meta.url);
  const compiled = fileURLToPath(new URL('compute-worker.mjs', import.meta.url));
  if (existsSync(compiled)) return { path: compiled, execArgv: [] };
  if (here.endsWith('.mjs'))
    throw new SconesError(
      `the compiled CLI in ${dirname(here)} is incomplete (no compute-worker.mjs): delete that folder and run the command again`,
    );
  return {
    path: fileURLToPath(new URL('compute-worker.ts', import.meta.url)),
    execArgv: ['--import', import.meta.resolve('tsx')],
  };
}

/** What a job computes, for a message about it. */
function described(job: ComputeJob): string {
  return job.kind === 'features' ? `the backbone's features of ${job.inputs.length} images` : job.label;
}

/**
 * The backbone's features and the cross-fitted heads, computed across the machine's cores. TensorFlow.js's
 * WebAssembly backend runs on one thread in Node (its threaded build is turned off there,
 * tensorflow/tfjs#3830), so each worker thread runs a backend of its own. The same code on the same
 * inputs gives the same bytes as in this thread (test/unit/compute-pool.test.ts). Workers start on first
 * use, stay for the next job, and do not keep the process alive when idle.
 */
export class ComputePool {
  private readonly slots: Slot[] = [];
  private readonly queue: Queued[] = [];
  private readonly pending = new Map<number, Queued & { slot: Slot }>();
  private nextId = 0;

  constructor(
    readonly size = Math.max(1, Math.min(MAX_WORKERS, availableParallelism())),
    private readonly workerFile: () => WorkerFile = computeWorkerFile,
  ) {}

  /** The features of each input (and of its mirror image when `mirrored`), in the inputs' order. */
  features(inputs: Float32Array[], side: number, mirrored: boolean): Promise<Features> {
    return this.run({ kind: 'features', inputs, side, mirrored }) as Promise<Features>;
  }

  /** A head trained by trainHead on `train`, and its probabilities for `heldOut`. */
  head(job: Omit<Extract<ComputeJob, { kind: 'head' }>, 'kind'>): Promise<HeadResult> {
    return this.run({ kind: 'head', ...job }) as Promise<HeadResult>;
  }

  private run(job: ComputeJob): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => !s.busy);
      if (slot === undefined && this.slots.length < this.size) {
        try {
          slot = this.start();
        } catch (error) {
          // No worker can start: every waiting job fails with the reason.
          for (const queued of this.queue.splice(0)) queued.reject(error as Error);
          return;
        }
      }
      if (slot === undefined) return;
      const queued = this.queue.shift() as Queued;
      const id = this.nextId++;
      slot.busy = true;
      slot.worker.ref();
      this.pending.set(id, { ...queued, slot });
      slot.worker.postMessage({ id, job: queued.job });
    }
  }

  private start(): Slot {
    const { path, execArgv } = this.workerFile();
    const worker = new Worker(path, { execArgv });
    const slot: Slot = { worker, busy: false };
    worker.on('message', (reply: ComputeReply) => this.settle(slot, reply));
    // The jobs the worker held fail, naming themselves; the queued ones go to the other workers.
    const fail = (why: string) => {
      // 'error' is followed by 'exit': the slot goes once.
      if (this.slots.includes(slot)) this.slots.splice(this.slots.indexOf(slot), 1);
      for (const [id, entry] of this.pending)
        if (entry.slot === slot) {
          this.pending.delete(id);
          entry.reject(
            new SconesError(
              `a compute worker ${why} while computing ${described(entry.job)}: run the command again; ` +
                'if it stops again, run it with SCONES_DEBUG=1 and report what it prints',
            ),
          );
        }
      this.dispatch();
    };
    worker.on('error', (error) => fail(`failed (${error.message})`));
    worker.on('messageerror', (error) => fail(`sent a reply that could not be read (${error.message})`));
    worker.on('exit', (code) => fail(`stopped (exit code ${code})`));
    this.slots.push(slot);
    return slot;
  }

  private settle(slot: Slot, reply: ComputeReply): void {
    const entry = this.pending.get(reply.id);
    if (entry === undefined) return;
    this.pending.delete(reply.id);
    slot.busy = false;
    if (this.queue.length === 0) slot.worker.unref();
    if (reply.ok) entry.resolve(reply.result);
    else {
      const error =
        reply.exitCode === undefined
          ? new Error(reply.message)
          : new SconesError(reply.message, { exitCode: reply.exitCode });
      error.name = reply.name;
      // The stack of the code that failed, in the worker, for SCONES_DEBUG.
      if (reply.stack !== undefined) error.stack = reply.stack;
      entry.reject(error);
    }
    this.dispatch();
  }
}

let shared: ComputePool | undefined;

/** The process's pool, started on first use. */
export function computePool(): ComputePool {
  shared ??= new ComputePool();
  return shared;
}
