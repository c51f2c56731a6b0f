// Helpers the end-to-end specs share: the dialog/CSP guard every page runs under, signing in
// through the form, axe-core checks and the docs screenshots.
import { expect, type Page } from '@playwright/test';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { readState } from './manager';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');
const state = readState();

// Collects what fails a page's test: a dialog (alert from injected markup), a CSP violation or an
// uncaught error.
export function guard(page: Page): string[] {
  const problems: string[] = [];
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`csp: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`error: ${e.message}`));
  return problems;
}

export interface Credentials {
  username: string;
  password: string;
}

// Fills the sign-in form (in either language) and submits it; what follows (the console, a TOTP
// step, an error) is the caller's to check.
export async function fillSignIn(page: Page, who: Credentials) {
  await page.goto(`${state.url}/`);
  await page.getByLabel(/User name|ユーザー名/).fill(who.username);
  await page.getByLabel(/^(Password|パスワード)$/).fill(who.password);
  await page.getByRole('button', { name: /^(Sign in|サインイン)$/ }).click();
}

// Signs in and waits for the signed-in user's name; with `language`, then switches the console to it.
export async function signIn(page: Page, who: Credentials, language?: 'en' | 'ja') {
  await fillSignIn(page, who);
  await expect(page.getByTestId('who')).toHaveText(who.username);
  if (language) await page.getByLabel(/^(Language|言語)$/).selectOption(language);
}

// Serious and critical axe-core violations on the page. axe runs as an injected script, which the
// console's CSP forbids: only in a context with bypassCSP.
export async function axeViolations(page: Page) {
  await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const r = await (window as any).axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v: any) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n: any) => n.target.join(' ')).slice(0, 3) }));
  });
  return (violations as Array<{ id: string; impact: string }>).filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

// With WARD_SCREENSHOTS=<dir>, a screenshot of the viewport as <dir>/<name>.png for docs/console.md.
export async function shoot(page: Page, name: string) {
  const dir = process.env.WARD_SCREENSHOTS;
  if (dir) await page.screenshot({ path: join(dir, `${name}.png`), fullPage: false });
}
