/**
 * The filter Lambda's default confidence threshold (the reference workflow's), defined once: the
 * configuration default, the Lambda's fallback and the template's parameter default all use it.
 */
export const DEFAULT_THRESHOLD = 0.93;
