/**
 * TensorFlow.js on this machine without native binaries: the WebAssembly backend (XNNPACK).
 * `@tensorflow/tfjs-node` is not an option: its install downloads libtensorflow, which machines without
 * internet cannot do.
 */
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';

export { tf };

let ready: Promise<void> | undefined;

/** Selects the wasm backend; idempotent. */
export function initTensorflow(): Promise<void> {
  ready ??= (async () => {
    // Our own messages say what runs where; tfjs's "hi there" banner and warnings do not help users.
    tf.env().set('PROD', true);
    const before = {
      uncaughtException: new Set(process.listeners('uncaughtException')),
      unhandledRejection: new Set(process.listeners('unhandledRejection')),
    };
    await tf.setBackend('wasm');
    await tf.ready();
    // The Emscripten runtime adds process handlers that rethrow every error and print its minified
    // source; errors should reach our own top-level handler instead.
    for (const listener of process.listeners('uncaughtException'))
      if (!before.uncaughtException.has(listener)) process.removeListener('uncaughtException', listener);
    for (const listener of process.listeners('unhandledRejection'))
      if (!before.unhandledRejection.has(listener)) process.removeListener('unhandledRejection', listener);
  })();
  return ready;
}
