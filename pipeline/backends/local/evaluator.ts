import type { Reporter } from '../../console-reporter.js';
import { SconesError } from '../../errors.js';
import type { EvaluateRequest, Evaluator, ObjectStore, ScoredImage } from '../../ports.js';
import { keyOfUri } from '../../util/s3-uri.js';
import { headProbabilities, loadModel, MODEL_FILES, modelProblem } from './model.js';
import { initTensorflow } from './tf.js';
import { extractFeatures, readSplit, readValidationPredictions } from './trainer.js';

/** Scores a locally trained model on the staged test and validation splits on this machine, as the endpoint would. */
export class LocalEvaluator implements Evaluator {
  readonly kind = 'tfjs-local';

  constructor(private readonly store: ObjectStore) {}

  async evaluate(request: EvaluateRequest, reporter: Reporter) {
    await initTensorflow();
    const model = await loadModel(this.store, request.model.modelUri);
    try {
      const problem = modelProblem(model, request.model.modelUri);
      if (problem !== undefined) throw new SconesError(problem);
      const side = request.dataset.imageShape[1];
      const score = async (split: 'test' | 'validation'): Promise<ScoredImage[]> => {
        const images = await readSplit(this.store, request.dataset.prefix, split, side, reporter);
        const progress = reporter.progress(`score ${split} images`, images.inputs.length, 'images');
        const features = await extractFeatures(images.inputs, side, true, progress);
        progress.done();
        const probabilities = headProbabilities(model, features);
        return images.paths.map((path, i) => ({
          path,
          label: images.labels[i] as number,
          probabilities: probabilities[i] as number[],
        }));
      };
      return {
        predictions: await score('test'),
        validation: await score('validation'),
        // A model reused from another dataset scored that dataset's training images: nothing to lend here.
        ...(request.model.datasetDigest === request.dataset.digest
          ? await this.outOfFold(keyOfUri(request.model.modelUri), request.dataset.classes)
          : {}),
      };
    } finally {
      model.dispose();
    }
  }

  /** The out-of-fold predictions the trainer saved with the model, if it cross-fitted any. */
  private async outOfFold(modelPrefix: string, classes: string[]): Promise<{ outOfFold?: ScoredImage[] }> {
    if ((await this.store.head(`${modelPrefix}${MODEL_FILES.outOfFoldPredictions}`)) === undefined) return {};
    const saved = await readValidationPredictions(this.store, modelPrefix, 'outOfFoldPredictions');
    if (saved.classes.join('\n') !== classes.join('\n'))
      throw new SconesError(
        `${this.store.uri(`${modelPrefix}${MODEL_FILES.outOfFoldPredictions}`)} names the classes ${saved.classes.join(', ')}, not the dataset's ${classes.join(', ')}: delete the model's folder to train it again`,
      );
    return {
      outOfFold: saved.labels.map((label, i) => ({
        path: saved.paths?.[i] ?? String(i),
        label,
        probabilities: saved.probabilities[i] as number[],
      })),
    };
  }
}
