/**
 * A training replica in a worker thread (see data-parallel.ts): builds the model from the trainer's
 * seed, then for each step applies the previous step's averaged gradients and returns its share's.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  Replica,
  type ReplicaModelOptions,
  type ReplicaRequest,
  type ReplicaResponse,
} from './data-parallel.js';
import { initTensorflow } from './tf.js';

const port = parentPort;
if (port === null) throw new Error('replica-worker runs in a worker thread');
const { options, learningRate } = workerData as { options: ReplicaModelOptions; learningRate: number };

const reply = (response: ReplicaResponse, transfer: ArrayBuffer[] = []) =>
  port.postMessage(response, transfer);

try {
  await initTensorflow('wasm');
  const replica = Replica.create(options, learningRate);
  port.on('message', (request: ReplicaRequest) => {
    try {
      if (request.apply !== undefined) replica.apply(request.apply.gradients, request.apply.learningRate);
      const result = replica.share(request.inputs, request.labels);
      reply(
        { kind: 'share', result },
        result.gradients.map((g) => g.buffer as ArrayBuffer),
      );
    } catch (error) {
      reply({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
    }
  });
  reply({ kind: 'ready' });
} catch (error) {
  reply({
    kind: 'error',
    message: `the training worker could not start: ${error instanceof Error ? error.message : String(error)}`,
  });
}
