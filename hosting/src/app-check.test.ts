import { describe, expect, it } from 'vitest';
import { appCheckBuildConfig, appCheckPlan } from './app-check.js';

const SITE_KEY = '6LdXyZAAAAAAAbcdefghijklmnopqrstuvwxyz12';

describe('App Check of the hosted pages (issue 20, finding 15)', () => {
  it('reads the provider and site key from the build environment', () => {
    expect(appCheckBuildConfig({})).toBeNull();
    expect(appCheckBuildConfig({ WILDLENS_APP_CHECK_SITE_KEY: '  ' })).toBeNull();
    expect(appCheckBuildConfig({ WILDLENS_APP_CHECK_SITE_KEY: SITE_KEY })).toEqual({
      provider: 'recaptcha-v3',
      siteKey: SITE_KEY,
      debugToken: null,
    });
    expect(
      appCheckBuildConfig({
        WILDLENS_APP_CHECK_SITE_KEY: SITE_KEY,
        WILDLENS_APP_CHECK_PROVIDER: 'recaptcha-enterprise',
        WILDLENS_APP_CHECK_DEBUG_TOKEN: 'a1b2c3d4-0000-4000-8000-000000000000',
      }),
    ).toEqual({
      provider: 'recaptcha-enterprise',
      siteKey: SITE_KEY,
      debugToken: 'a1b2c3d4-0000-4000-8000-000000000000',
    });
  });

  it('refuses a provider or a key it cannot use, in French', () => {
    expect(() =>
      appCheckBuildConfig({
        WILDLENS_APP_CHECK_SITE_KEY: SITE_KEY,
        WILDLENS_APP_CHECK_PROVIDER: 'recaptcha',
      }),
    ).toThrow(/doit valoir recaptcha-v3 ou recaptcha-enterprise/);
    expect(() => appCheckBuildConfig({ WILDLENS_APP_CHECK_SITE_KEY: 'x y' })).toThrow(
      /clé de site reCAPTCHA/,
    );
  });

  it('pages served from localhost without a key leave App Check off (the demo project)', () => {
    expect(appCheckPlan(null, true)).toEqual({ kind: 'off' });
  });

  it('a deployed page without a key says calls will be refused', () => {
    const plan = appCheckPlan(null, false);
    expect(plan.kind).toBe('unconfigured');
    expect(plan).toMatchObject({
      warningFr: expect.stringMatching(/App Check n’est pas configuré/),
    });
  });

  it('a deployed page uses the configured reCAPTCHA provider and never a debug token', () => {
    const config = appCheckBuildConfig({
      WILDLENS_APP_CHECK_SITE_KEY: SITE_KEY,
      WILDLENS_APP_CHECK_PROVIDER: 'recaptcha-enterprise',
      WILDLENS_APP_CHECK_DEBUG_TOKEN: 'registered-debug-token',
    });
    expect(appCheckPlan(config, false)).toEqual({
      kind: 'recaptcha',
      provider: 'recaptcha-enterprise',
      siteKey: SITE_KEY,
      debugToken: null,
    });
  });

  it('under localhost it attests with a debug token: the registered one, else a generated one', () => {
    const registered = appCheckBuildConfig({
      WILDLENS_APP_CHECK_SITE_KEY: SITE_KEY,
      WILDLENS_APP_CHECK_DEBUG_TOKEN: 'registered-debug-token',
    });
    expect(appCheckPlan(registered, true)).toMatchObject({
      kind: 'recaptcha',
      debugToken: 'registered-debug-token',
    });
    const generated = appCheckBuildConfig({ WILDLENS_APP_CHECK_SITE_KEY: SITE_KEY });
    expect(appCheckPlan(generated, true)).toMatchObject({ kind: 'recaptcha', debugToken: true });
  });
});
