import { z } from 'zod';

/**
 * Labelled predictions the local trainer saves next to a model under `models/<training-id>/`:
 * `validation-predictions.json`, the model's own on the validation split (the monitor report's drift
 * baseline), and `out-of-fold-predictions.json`, each training image scored by a head cross-fitted
 * without it (more predictions to choose the threshold on). One row of probabilities per label, in class
 * order.
 */
export const validationPredictionsSchema = z
  .object({
    classes: z.array(z.string()),
    labels: z.array(z.number().int().nonnegative()),
    probabilities: z.array(z.array(z.number().min(0).max(1))),
    /** The images' paths in their split's list (out-of-fold predictions only). */
    paths: z.array(z.string()).optional(),
  })
  .refine(
    (p) => p.labels.length === p.probabilities.length && (p.paths ?? p.labels).length === p.labels.length,
    { message: 'labels, probabilities and any paths must have one entry per image' },
  );
export type ValidationPredictions = z.infer<typeof validationPredictionsSchema>;
