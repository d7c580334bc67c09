/**
 * The filter Lambda's default confidence threshold (the reference workflow's), defined once: the Lambda's
 * fallback, the template's parameter default and the report on capture from outside a run use it (the
 * configuration's default is `auto`: the threshold chosen on the model's validation and out-of-fold predictions).
 */
export const DEFAULT_THRESHOLD = 0.93;
