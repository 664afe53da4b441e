/**
 * Headless Chromium for the admin-page tests: Debian's /usr/bin/chromium driven by
 * playwright-core (no browser download). Screenshots go to .artifacts/screenshots/ (gitignored).
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from '../../scripts/emulators/stack.js';
import { STEP_HANG_BOUND_MS } from '../hang-bound.js';
import { HOSTING_ORIGIN } from './support.js';

export const CHROMIUM_PATH = process.env.WILDLENS_CHROMIUM ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM_PATH);
export const SCREENSHOTS_DIR = path.join(REPO_ROOT, '.artifacts', 'screenshots');

export const LAPTOP = { width: 1366, height: 900 };
export const TABLET = { width: 820, height: 1180 };

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface PageSession {
  context: BrowserContext;
  page: Page;
  /** Uncaught page errors and console errors, for assertions and failure messages. */
  errors: string[];
}

/** A fresh context (own cookies and IndexedDB, so its own Firebase session) and page. */
export async function openPage(
  browser: Browser,
  viewport: { width: number; height: number } = LAPTOP,
): Promise<PageSession> {
  const context = await browser.newContext({ viewport, locale: 'fr-FR' });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  // confirm() dialogs (delete, promote, rollback) are accepted, as an admin would.
  page.on('dialog', (dialog) => void dialog.accept());
  // Every wait of the page only bounds a hang: a callable's first call loads its function in
  // the emulator, which takes minutes on a busy machine (tests/hang-bound.ts).
  page.setDefaultTimeout(STEP_HANG_BOUND_MS);
  return { context, page, errors };
}

export const pageUrl = (pathname: string): string => `${HOSTING_ORIGIN}${pathname}`;

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  const file = path.join(SCREENSHOTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Signs in through the index page form; resolves once the page has decided (welcome/refusal). */
export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await submitSignIn(page, email, password);
  await page.locator('#welcome:not([hidden]), .refusal').first().waitFor({ state: 'visible' });
}

/** Fills and submits the sign-in form of the index page (no waiting for the outcome). */
export async function submitSignIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto(pageUrl('/'));
  await page.locator('#signin').waitFor({ state: 'visible' });
  await page.getByLabel('Adresse e-mail').fill(email);
  await page.getByLabel('Mot de passe').fill(password);
  await page.getByRole('button', { name: 'Se connecter', exact: true }).click();
}
