import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type * as tfl from '@tensorflow/tfjs-layers';
import { SconesError } from '../../errors.js';
import { buildModel, type ModelBlocks } from './model.js';
import { initTensorflow, tf } from './tf.js';

/**
 * Synchronous data-parallel training on this machine's cores: each step's batch is split into shares,
 * every share's gradients are computed by a replica of the model (this thread, plus worker threads
 * with their own TensorFlow.js wasm runtime, which runs on one core), and all replicas apply the same
 * size-weighted average, so they stay identical. tfjs-backend-wasm's own threads need a browser's
 * workers and are off in Node. Batch normalisation sees each share as its batch, so the number of
 * shares is part of the model's definition (a hyperparameter), and the number of threads is not: with
 * fewer cores than shares, this thread computes the remaining shares itself, to the same result.
 */

/** Shares each batch is split into: two (a batch of 32 split further gains little on this model). */
export const SHARES_PER_BATCH = 2;

/** Worker threads to use for `shares`: one share per core, this thread taking one. */
export function workerThreadsFor(shares: number): number {
  return Math.max(0, Math.min(shares, availableParallelism()) - 1);
}

export interface ReplicaModelOptions {
  side: number;
  classes: number;
  seed: number;
  /** Share of the target spread evenly over the classes (label smoothing); 0 trains on one-hot targets. */
  labelSmoothing?: number;
  /** The conv blocks (model.ts); absent, the default architecture. */
  blocks?: ModelBlocks | undefined;
}

/** What a replica computed on its share of a batch. */
export interface ShareResult {
  count: number;
  /** Mean loss over the share. */
  loss: number;
  correct: number;
  /** Gradients of the mean loss, one per trainable variable, in the model's order. */
  gradients: Float32Array[];
}

/** Adam whose learning rate the epoch loop sets (tfjs keeps it in a protected field). */
export class ScheduledAdam extends tf.AdamOptimizer {
  constructor(learningRate: number) {
    super(learningRate, 0.9, 0.999);
  }

  setLearningRate(learningRate: number): void {
    this.learningRate = learningRate;
  }
}

/** One copy of the model and its optimizer: computes gradients on a share, applies an average. */
export class Replica {
  private readonly variables: tf.Variable[];

  constructor(
    readonly model: tfl.LayersModel,
    private readonly optimizer: ScheduledAdam,
    private readonly options: ReplicaModelOptions,
  ) {
    this.variables = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
  }

  static create(options: ReplicaModelOptions, learningRate: number): Replica {
    return new Replica(buildModel(options), new ScheduledAdam(learningRate), options);
  }

  /** Gradients of the mean loss over one share. */
  share(inputs: Float32Array, labels: readonly number[]): ShareResult {
    const { side, classes } = this.options;
    const count = labels.length;
    if (count === 0)
      return { count, loss: 0, correct: 0, gradients: this.variables.map((v) => new Float32Array(v.size)) };
    let correct = 0;
    const { value, grads } = this.optimizer.computeGradients(() => {
      const xs = tf.tensor4d(inputs, [count, side, side, 3]);
      const oneHot = tf.oneHot(tf.tensor1d([...labels], 'int32'), classes);
      const smoothing = this.options.labelSmoothing ?? 0;
      const ys = smoothing === 0 ? oneHot : tf.add(tf.mul(oneHot, 1 - smoothing), smoothing / classes);
      const probabilities = this.model.apply(xs, { training: true }) as tf.Tensor;
      correct = tf.tidy(
        () =>
          tf.sum(tf.cast(tf.equal(tf.argMax(probabilities, 1), tf.argMax(ys, 1)), 'int32')).dataSync()[0] ??
          0,
      );
      // Categorical cross-entropy with Keras's clipping of the probabilities.
      return tf.neg(tf.mean(tf.sum(tf.mul(ys, tf.log(tf.clipByValue(probabilities, 1e-7, 1 - 1e-7))), -1)));
    }, this.variables);
    const gradients = this.variables.map((variable) => {
      const gradient = grads[variable.name];
      if (gradient === undefined) throw new Error(`no gradient for ${variable.name}`);
      // A copy: the array is transferred to another thread, and must not be a view of the wasm heap.
      return (gradient.dataSync() as Float32Array).slice();
    });
    const loss = value.dataSync()[0] ?? Number.NaN;
    tf.dispose([value, ...Object.values(grads)]);
    return { count, loss, correct, gradients };
  }

  apply(gradients: readonly Float32Array[], learningRate: number): void {
    this.optimizer.setLearningRate(learningRate);
    const named = this.variables.map((variable, i) => ({
      name: variable.name,
      tensor: tf.tensor(gradients[i] as Float32Array, variable.shape),
    }));
    this.optimizer.applyGradients(named);
    tf.dispose(named.map((n) => n.tensor));
  }

  disposeOptimizer(): void {
    this.optimizer.dispose();
  }

  dispose(): void {
    this.model.dispose();
    this.optimizer.dispose();
  }
}

/** Messages between the trainer and a replica worker. */
export type ReplicaRequest = {
  apply?: { gradients: Float32Array[]; learningRate: number };
  inputs: Float32Array;
  labels: number[];
};
export type ReplicaResponse =
  | { kind: 'ready' }
  | { kind: 'share'; result: ShareResult }
  | { kind: 'error'; message: string };

/** A replica in a worker thread, driven one step at a time. */
class ReplicaWorker {
  private waiting: { resolve: (r: ReplicaResponse) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (response: ReplicaResponse) => this.settle(response));
    worker.on('error', (error) => this.fail(error));
    worker.on('exit', (code) => this.fail(new Error(`the training worker exited with code ${code}`)));
  }

  static async start(options: ReplicaModelOptions, learningRate: number): Promise<ReplicaWorker> {
    const worker = new Worker(new URL('./replica-worker.mjs', import.meta.url), {
      workerData: { options, learningRate },
    });
    const replica = new ReplicaWorker(worker);
    try {
      const ready = await replica.next();
      if (ready.kind !== 'ready') throw new Error('the training worker did not start');
    } catch (error) {
      await replica.stop();
      throw error;
    }
    return replica;
  }

  private settle(response: ReplicaResponse): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (response.kind === 'error') this.fail(new Error(response.message), waiting);
    else waiting?.resolve(response);
  }

  private fail(error: Error, waiting = this.waiting): void {
    this.failure ??= error;
    this.waiting = undefined;
    waiting?.reject(this.failure);
  }

  private next(): Promise<ReplicaResponse> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  send(request: ReplicaRequest, transfer: ArrayBuffer[] = []): Promise<ReplicaResponse> {
    const response = this.next();
    this.worker.postMessage(request, transfer);
    return response;
  }

  async stop(): Promise<void> {
    this.worker.removeAllListeners();
    // A reply still in flight has no one to take it now.
    this.worker.on('error', () => {});
    this.waiting = undefined;
    await this.worker.terminate();
  }
}

/** The trainer's handle: this thread's replica (whose weights are the model) and the workers'. */
export class DataParallel {
  private pending: { gradients: Float32Array[]; learningRate: number } | undefined;

  private constructor(
    readonly local: Replica,
    private readonly workers: ReplicaWorker[],
    private readonly options: ReplicaModelOptions & { shares: number },
  ) {}

  /**
   * Builds this thread's replica and `workers` worker replicas (default: one per spare core, at most
   * one per share beyond the first). Every replica builds the model from the same seed, so all start
   * from the same weights.
   */
  static async start(
    options: ReplicaModelOptions & { learningRate: number; shares: number; workers?: number },
  ): Promise<DataParallel> {
    await initTensorflow('wasm');
    const { learningRate, shares, workers: requested, ...model } = options;
    if (!Number.isInteger(shares) || shares < 1)
      throw new SconesError(`train shares must be a positive integer, not ${shares}`);
    const count = Math.min(requested ?? workerThreadsFor(shares), shares - 1);
    const local = Replica.create(model, learningRate);
    const workers: ReplicaWorker[] = [];
    try {
      for (let i = 0; i < count; i++) workers.push(await ReplicaWorker.start(model, learningRate));
    } catch (error) {
      await Promise.all(workers.map((w) => w.stop()));
      local.dispose();
      throw error;
    }
    return new DataParallel(local, workers, { ...model, shares });
  }

  get model(): tfl.LayersModel {
    return this.local.model;
  }

  /**
   * One optimizer step on a batch (`labels.length` images laid out in `inputs`), split into the
   * configured shares: the shares' gradients are averaged, weighted by share size, so the step equals
   * one on the whole batch's mean loss.
   */
  async step(
    inputs: Float32Array,
    labels: readonly number[],
    learningRate: number,
  ): Promise<{ loss: number; correct: number }> {
    const size = this.options.side * this.options.side * 3;
    const { shares } = this.options;
    const bounds = Array.from({ length: shares + 1 }, (_, i) => Math.floor((i * labels.length) / shares));
    const part = (i: number) => ({
      inputs: inputs.slice((bounds[i] as number) * size, (bounds[i + 1] as number) * size),
      labels: labels.slice(bounds[i], bounds[i + 1]),
    });
    const apply = this.pending;
    // Shares 1..workers go to the workers; share 0 and any beyond the workers are computed here.
    const remote = this.workers.map((worker, w) => {
      const share = part(w + 1);
      const request: ReplicaRequest = { ...(apply === undefined ? {} : { apply }), ...share };
      return worker.send(request, [share.inputs.buffer as ArrayBuffer]);
    });
    // A worker's failure is read below; until then it must not count as unhandled.
    for (const response of remote) response.catch(() => {});
    const local = [
      0,
      ...Array.from({ length: shares - 1 - this.workers.length }, (_, i) => this.workers.length + 1 + i),
    ];
    const results: ShareResult[] = local.map((i) => {
      const share = part(i);
      return this.local.share(share.inputs, share.labels);
    });
    for (const response of await Promise.all(remote)) {
      if (response.kind !== 'share') throw new Error('the training worker answered out of turn');
      results.push(response.result);
    }
    const counted = results.filter((share) => share.count > 0);
    const total = counted.reduce((sum, share) => sum + share.count, 0);
    const first = results[0] as ShareResult;
    const gradients = first.gradients.map((_, v) => {
      const average = new Float32Array(first.gradients[v]?.length ?? 0);
      for (const share of counted) {
        const weight = share.count / total;
        const gradient = share.gradients[v] as Float32Array;
        for (let k = 0; k < average.length; k++)
          average[k] = (average[k] as number) + weight * (gradient[k] as number);
      }
      return average;
    });
    this.local.apply(gradients, learningRate);
    // The workers apply the same average before their next share: one message per step.
    this.pending = { gradients, learningRate };
    return {
      loss: counted.reduce((sum, share) => sum + share.loss * share.count, 0) / Math.max(1, total),
      correct: counted.reduce((sum, share) => sum + share.correct, 0),
    };
  }

  /** Stops the workers. The model stays usable (the trainer saves it), and is the caller's to dispose. */
  async stop(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.stop()));
    this.local.disposeOptimizer();
  }
}
