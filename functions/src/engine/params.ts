/**
 * Tunables of the identification API, overridable per project in functions/.env.<projectId>
 * (Firebase loads those files into process.env). Plain env reads with defaults rather than
 * `defineInt` params: a declared param without a value in functions/.env makes the emulator
 * stop and prompt for it. Read inside handlers only.
 */
function intFromEnv(name: string, fallback: number, min: number): () => number {
  return () => {
    const value = Number(process.env[name]);
    return Number.isInteger(value) && value >= min ? value : fallback;
  };
}

export const identifyParams = {
  /** Largest photo accepted for identification (bytes, decoded). */
  maxImageBytes: intFromEnv('WILDLENS_IDENTIFY_MAX_BYTES', 10 * 1024 * 1024, 1024),
  /** Minimal interval between two reads of config/activeModel (seconds). */
  modelRecheckSeconds: intFromEnv('WILDLENS_MODEL_RECHECK_SECONDS', 30, 0),
  /**
   * Longest wait of a request for the model an instance is loading (seconds), well under the
   * function's 60 s timeout; past it the request answers `unavailable` with a retry delay.
   */
  modelWaitSeconds: intFromEnv('WILDLENS_MODEL_WAIT_SECONDS', 20, 1),
  /** Longest side of the stored observation photo (pixels). */
  photoMaxSide: intFromEnv('WILDLENS_OBSERVATION_PHOTO_MAX_SIDE', 1600, 256),
} as const;
