import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
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
  | { id: number; ok: false; name: string; message: string; exitCode?: number };

/**
 * Workers at most: the cross-fitted heads are 4, and each worker holds its own backbone (about 60 MB
 * with TensorFlow.js), so more cores than this add memory, not speed.
 */
const MAX_WORKERS = 4;

interface Slot {
  worker: Worker;
  busy: boolean;
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
  private readonly queue: { job: ComputeJob; resolve: (r: unknown) => void; reject: (e: Error) => void }[] =
    [];
  private readonly pending = new Map<
    number,
    { slot: Slot; resolve: (r: unknown) => void; reject: (e: Error) => void }
  >();
  private nextId = 0;

  constructor(readonly size = Math.max(1, Math.min(MAX_WORKERS, availableParallelism()))) {}

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
      if (slot === undefined && this.slots.length < this.size) slot = this.start();
      if (slot === undefined) return;
      const { job, resolve, reject } = this.queue.shift() as (typeof this.queue)[number];
      const id = this.nextId++;
      slot.busy = true;
      slot.worker.ref();
      this.pending.set(id, { slot, resolve, reject });
      slot.worker.postMessage({ id, job });
    }
  }

  private start(): Slot {
    // Beside the compiled CLI's chunks (scripts/build-cli.mjs) the bundled worker; else the source, through tsx.
    const compiled = fileURLToPath(new URL('compute-worker.mjs', import.meta.url));
    const worker = existsSync(compiled)
      ? new Worker(compiled)
      : new Worker(fileURLToPath(new URL('compute-worker.ts', import.meta.url)), {
          execArgv: ['--import', import.meta.resolve('tsx')],
        });
    const slot: Slot = { worker, busy: false };
    worker.on('message', (reply: ComputeReply) => this.settle(slot, reply));
    const fail = (error: Error) => {
      // 'error' is followed by 'exit': the slot goes once.
      if (this.slots.includes(slot)) this.slots.splice(this.slots.indexOf(slot), 1);
      for (const [id, entry] of this.pending)
        if (entry.slot === slot) {
          this.pending.delete(id);
          entry.reject(error);
        }
      this.dispatch();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`a compute worker stopped (exit code ${code})`)));
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
