/**
 * Image domains: what kind of photo a training image is. Models behave very differently on
 * tight crops of a track and on whole field photos, so every image keeps its domain and every
 * metric is reported per domain.
 */
export const KNOWN_DOMAINS = {
  crop: 'gros plans (empreinte recadrée)',
  field: 'photos de terrain (photo entière)',
} as const;

export type KnownDomain = keyof typeof KNOWN_DOMAINS;

/** Images recorded before domains existed, or uploaded without one. */
export const UNSPECIFIED_DOMAIN = 'unspecified';

/** A domain is a short lower-case slug: a known one, or a dataset's name. */
export const DOMAIN_PATTERN = /^[a-z0-9][a-z0-9-]{0,39}$/;

/** The domain slug `value` names, or undefined when it is not a valid domain. */
export function parseDomain(value: unknown): string | undefined {
  return typeof value === 'string' && DOMAIN_PATTERN.test(value) ? value : undefined;
}
