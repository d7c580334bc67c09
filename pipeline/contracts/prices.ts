import { z } from 'zod';

/** What an instance is billed for: a training job, a Batch Transform job, or a real-time endpoint. */
export const INSTANCE_USES = ['training', 'transform', 'hosting'] as const;
export type InstanceUse = (typeof INSTANCE_USES)[number];

/** One on-demand price, with where it was read and when. */
export const instancePriceSchema = z.strictObject({
  usdPerHour: z.number().positive(),
  /** The offer file (and SKU) or the page it was read from. */
  source: z.string().min(1),
  /** When that source published or showed it (YYYY-MM-DD). */
  date: z.iso.date(),
});
export type InstancePrice = z.infer<typeof instancePriceSchema>;

const pricesByType = z.record(z.string().regex(/^ml\.[a-z0-9-]+\.[a-z0-9]+$/), instancePriceSchema);

/**
 * The SageMaker price snapshot (`sagemaker-prices.json`): on-demand USD per instance-hour per region, use and
 * instance type. Written by scripts/refresh-prices.ts from AWS's public Price List bulk offer files; read by
 * pipeline/util/run-cost.ts. A region, use or type absent here has no known price: the cost line says so.
 */
export const priceSnapshotSchema = z.strictObject({
  /** How the snapshot was compiled. */
  source: z.string().min(1),
  /** When it was compiled (YYYY-MM-DD). */
  retrieved: z.iso.date(),
  currency: z.literal('USD'),
  prices: z.record(
    z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/),
    z.strictObject({
      training: pricesByType.optional(),
      transform: pricesByType.optional(),
      hosting: pricesByType.optional(),
    }),
  ),
});
export type PriceSnapshot = z.infer<typeof priceSnapshotSchema>;
