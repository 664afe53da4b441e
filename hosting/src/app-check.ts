/**
 * App Check for the hosted pages (issue 20, finding 15): with enforcement on, the functions
 * refuse any call without a valid App Check token, so a page on a production project must
 * attest itself through reCAPTCHA. The provider and its site key (public, not a secret) come
 * from the hosting build's environment (scripts/build-hosting.ts):
 *   WILDLENS_APP_CHECK_SITE_KEY     the reCAPTCHA site key registered in App Check;
 *   WILDLENS_APP_CHECK_PROVIDER     recaptcha-v3 (default) or recaptcha-enterprise;
 *   WILDLENS_APP_CHECK_DEBUG_TOKEN  a debug token registered in the console, used only by pages
 *                                   served from localhost (the SDK makes one up when unset).
 * This module decides (pure, unit-tested); firebase.ts acts on the decision.
 */

export const APP_CHECK_PROVIDERS = ['recaptcha-v3', 'recaptcha-enterprise'] as const;
export type AppCheckProviderKind = (typeof APP_CHECK_PROVIDERS)[number];

/** What the build injects into the pages (null: no site key configured). */
export interface AppCheckBuildConfig {
  provider: AppCheckProviderKind;
  siteKey: string;
  debugToken: string | null;
}

/** Reads the build environment; throws a French message on a value it cannot use. */
export function appCheckBuildConfig(
  env: Record<string, string | undefined>,
): AppCheckBuildConfig | null {
  const siteKey = env.WILDLENS_APP_CHECK_SITE_KEY?.trim() ?? '';
  const provider = env.WILDLENS_APP_CHECK_PROVIDER?.trim() || 'recaptcha-v3';
  if (!APP_CHECK_PROVIDERS.includes(provider as AppCheckProviderKind)) {
    throw new Error(
      `WILDLENS_APP_CHECK_PROVIDER doit valoir ${APP_CHECK_PROVIDERS.join(' ou ')} (reçu « ${provider} »).`,
    );
  }
  if (!siteKey) return null;
  if (!/^[\w-]{20,100}$/.test(siteKey)) {
    throw new Error(`WILDLENS_APP_CHECK_SITE_KEY n’a pas la forme d’une clé de site reCAPTCHA.`);
  }
  return {
    provider: provider as AppCheckProviderKind,
    siteKey,
    debugToken: env.WILDLENS_APP_CHECK_DEBUG_TOKEN?.trim() || null,
  };
}

/** What a page does about App Check. */
export type AppCheckPlan =
  /** Served from localhost with no site key: the emulators' demo project does not enforce. */
  | { kind: 'off' }
  /** A real project's page built without a site key: calls fail where App Check is enforced. */
  | { kind: 'unconfigured'; warningFr: string }
  /**
   * reCAPTCHA with the configured key; under localhost with a debug token (the configured one,
   * or `true`: the SDK generates one and prints it to register in the console).
   */
  | {
      kind: 'recaptcha';
      provider: AppCheckProviderKind;
      siteKey: string;
      debugToken: string | true | null;
    };

export function appCheckPlan(config: AppCheckBuildConfig | null, localHost: boolean): AppCheckPlan {
  if (!config) {
    return localHost
      ? { kind: 'off' }
      : {
          kind: 'unconfigured',
          warningFr:
            'App Check n’est pas configuré pour ces pages (WILDLENS_APP_CHECK_SITE_KEY absente au build) : les fonctions qui l’exigent refuseront les appels.',
        };
  }
  return {
    kind: 'recaptcha',
    provider: config.provider,
    siteKey: config.siteKey,
    // Never a debug token on a deployed page: it would let anyone past App Check.
    debugToken: localHost ? (config.debugToken ?? true) : null,
  };
}
