import { z } from 'zod';

/**
 * The trained model's predictions on the validation split, saved next to it
 * (`models/<training-id>/validation-predictions.json`) by the local trainer: the monitor report's
 * drift baseline. One row of probabilities per label, in class order.
 */
export const validationPredictionsSchema = z
  .object({
    classes: z.array(z.string()),
    labels: z.array(z.number().int().nonnegative()),
    probabilities: z.array(z.array(z.number())),
  })
  .refine((p) => p.labels.length === p.probabilities.length, {
    message: 'labels and probabilities must have one entry per validation image',
  });
export type ValidationPredictions = z.infer<typeof validationPredictionsSchema>;
