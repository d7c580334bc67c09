import { z } from 'zod';
import { evaluationRecordSchema } from './evaluation.js';

/**
 * The model history: one object per time a model went live, written once and never rewritten
 * (`model-history/<liveAt>-<training-id>.json`, contracts/layout.ts). Two deploys at once each write their
 * own key, so neither can lose the other's record (a single document would need a read-modify-write made
 * atomic by conditional writes and retries on every writer); when a model
 * was replaced is the time the next one went live, so no earlier object is ever touched again. Only
 * deploys that changed what is live write one (never a preview or an unchanged deploy).
 */
export const modelWentLiveSchema = z.object({
  trainingId: z.string().min(1),
  /** `<kind>/<version>` of the trainer that made it. */
  trainer: z.string(),
  /** What a redeploy needs: the model's artifacts, its validation figure and (local) its input side. */
  modelUri: z.string().min(1),
  validationAccuracy: z.number(),
  imageSide: z.number().int().positive().optional(),
  datasetDigest: z.string(),
  /** The commit the run that trained it was made from (GITHUB_SHA, else `git rev-parse HEAD`); absent when unknown. */
  commit: z.string().optional(),
  /** The held-out test evaluation (accuracy, its interval, per-class figures); absent when none was made. */
  evaluation: evaluationRecordSchema.optional(),
  /** The gate's verdict: passed, or rejected and forced through with --force. */
  verdict: z.enum(['passed', 'forced']),
  /** The filter Lambda's confidence threshold it went live with. */
  threshold: z.number().min(0).max(1),
  /** ISO 8601, UTC. */
  liveAt: z.string().datetime(),
  /** A run's deploy stage, or `scones rollback`. */
  how: z.enum(['deploy', 'rollback']),
  runId: z.string(),
  /** The model that was live before (and left). */
  replaced: z.string().optional(),
});
export type ModelWentLive = z.infer<typeof modelWentLiveSchema>;

/** One model of `scones models`: its newest going-live, when that period ended, and whether it is live now. */
export interface ModelHistoryEntry extends ModelWentLive {
  /** When the next model went live after this one's newest going-live; absent while nothing replaced it. */
  replacedAt?: string;
  /** How many times it went live (a rollback puts a model live again). */
  timesLive: number;
  live: boolean;
}

/**
 * Folds the going-live records into one entry per model, newest going-live first. `liveTrainingId` is what
 * the backend says is deployed now (Backend.deployment()), not what the history last wrote.
 */
export function modelHistory(
  records: readonly ModelWentLive[],
  liveTrainingId: string | undefined,
): ModelHistoryEntry[] {
  const ordered = [...records].sort((a, b) => a.liveAt.localeCompare(b.liveAt));
  const entries = new Map<string, ModelHistoryEntry>();
  ordered.forEach((record, index) => {
    const next = ordered[index + 1];
    const timesLive = (entries.get(record.trainingId)?.timesLive ?? 0) + 1;
    entries.delete(record.trainingId);
    entries.set(record.trainingId, {
      ...record,
      ...(next === undefined ? {} : { replacedAt: next.liveAt }),
      timesLive,
      live: record.trainingId === liveTrainingId,
    });
  });
  return [...entries.values()].reverse();
}
