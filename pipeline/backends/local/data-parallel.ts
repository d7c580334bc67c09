import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type * as tfl from '@tensorflow/tfjs-layers';
import { SconesError } from '../../errors.js';
import { buildModel } from './model.js';
import { initTensorflow, tf } from './tf.js';

/**
 * Synchronous data-parallel training on this machine's cores: each step's batch is split between
 * replicas of the model (this thread plus worker threads, each with its own TensorFlow.js wasm
 * runtime, which runs on one core), every replica computes the gradients of its share, and all apply
 * the same average, so the replicas stay identical. tfjs-backend-wasm's own threads need a browser's
 * workers and are off in Node; batch normalisation sees each replica's share as its batch.
 */

/** Replicas to train with: one per core, at most two (the batch of 32 split further gains little). */
export function defaultReplicas(): number {
  return Math.max(1, Math.min(2, availableParallelism()));
}

export interface ReplicaModelOptions {
  side: number;
  classes: number;
  seed: number;
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

  share(inputs: Float32Array, labels: readonly number[]): ShareResult {
    const { side, classes } = this.options;
    const count = labels.length;
    if (count === 0)
      return { count, loss: 0, correct: 0, gradients: this.variables.map((v) => new Float32Array(v.size)) };
    let correct = 0;
    const { value, grads } = this.optimizer.computeGradients(() => {
      const xs = tf.tensor4d(inputs, [count, side, side, 3]);
      const ys = tf.oneHot(tf.tensor1d([...labels], 'int32'), classes);
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

  dispose(): void {
    this.model.dispose();
    this.optimizer.dispose();
  }
}

/** Messages between the trainer and a replica worker. */
export type ReplicaRequest =
  | {
      kind: 'step';
      apply?: { gradients: Float32Array[]; learningRate: number };
      inputs: Float32Array;
      labels: number[];
    }
  | { kind: 'stop' };
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
    const ready = await replica.next();
    if (ready.kind !== 'ready') throw new Error('the training worker did not start');
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
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

/** The trainer's handle: this thread's replica (whose weights are the model) and the workers'. */
export class DataParallel {
  private pending: { gradients: Float32Array[]; learningRate: number } | undefined;

  private constructor(
    readonly local: Replica,
    private readonly workers: ReplicaWorker[],
    private readonly options: ReplicaModelOptions,
  ) {}

  static async start(
    options: ReplicaModelOptions & { learningRate: number; replicas: number },
  ): Promise<DataParallel> {
    await initTensorflow('wasm');
    const { learningRate, replicas, ...model } = options;
    if (!Number.isInteger(replicas) || replicas < 1)
      throw new SconesError(`train replicas must be a positive integer, not ${replicas}`);
    const workers: ReplicaWorker[] = [];
    try {
      // Every replica builds the model from the same seed, so all start from the same weights.
      for (let i = 1; i < replicas; i++) workers.push(await ReplicaWorker.start(model, learningRate));
    } catch (error) {
      await Promise.all(workers.map((w) => w.stop()));
      throw error;
    }
    return new DataParallel(Replica.create(model, learningRate), workers, model);
  }

  get model(): tfl.LayersModel {
    return this.local.model;
  }

  /**
   * One optimizer step on a batch (`count` images laid out in `inputs`): the shares' gradients are
   * averaged, weighted by share size, so the step equals one on the whole batch's mean loss.
   */
  async step(
    inputs: Float32Array,
    labels: readonly number[],
    learningRate: number,
  ): Promise<{ loss: number; correct: number }> {
    const size = this.options.side * this.options.side * 3;
    const parts = this.workers.length + 1;
    const bounds = Array.from({ length: parts + 1 }, (_, i) => Math.floor((i * labels.length) / parts));
    const apply = this.pending;
    const remote = this.workers.map((worker, i) => {
      const from = bounds[i + 1] as number;
      const to = bounds[i + 2] as number;
      const share = inputs.slice(from * size, to * size);
      const request: ReplicaRequest = {
        kind: 'step',
        ...(apply === undefined ? {} : { apply }),
        inputs: share,
        labels: labels.slice(from, to),
      };
      return worker.send(request, [share.buffer as ArrayBuffer]);
    });
    const mine = this.local.share(
      inputs.subarray(0, (bounds[1] as number) * size),
      labels.slice(0, bounds[1]),
    );
    const shares = [mine];
    for (const response of await Promise.all(remote)) {
      if (response.kind !== 'share') throw new Error('the training worker answered out of turn');
      shares.push(response.result);
    }
    const counted = shares.filter((share) => share.count > 0);
    const total = counted.reduce((sum, share) => sum + share.count, 0);
    const gradients = mine.gradients.map((_, v) => {
      const average = new Float32Array(mine.gradients[v]?.length ?? 0);
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

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.stop()));
  }
}
