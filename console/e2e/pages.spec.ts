// Every page, in English and Japanese: no serious or critical axe-core violation, and (with
// WARD_SCREENSHOTS=<dir>) a 1366×768 screenshot of each for docs/console.md.
import { expect, test } from '@playwright/test';
import { axeViolations, shoot } from './helpers';
import { readState } from './manager';

const state = readState();

// axe is injected as a script, which the console's CSP forbids: this context bypasses the CSP
// (the other specs run with it and check that it is never violated).
test.use({ bypassCSP: true });

const PAGES = [
  { name: 'dashboard', path: '/', ready: 'dash-total' },
  { name: 'computers', path: '/computers', ready: 'computers' },
  { name: 'events', path: '/events', ready: 'events' },
  { name: 'policies', path: '/policies', ready: 'policies', open: /^(Edit|編集)$/ },
  { name: 'admin', path: '/admin', ready: 'users' },
  { name: 'tenants', path: '/tenants', ready: 'tenants' },
  { name: 'account', path: '/account', ready: 'totp-state' },
];

for (const lang of ['en', 'ja'] as const) {
  test(`every page passes axe-core (${lang})`, async ({ page }) => {
    await page.goto(`${state.url}/`);
    if (lang === 'ja') await page.getByRole('button', { name: '日本語' }).click();
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    expect(await axeViolations(page)).toEqual([]);
    await shoot(page, `signin-${lang}`);
    await page.getByLabel(/User name|ユーザー名/).fill(state.users.admin.username);
    await page.getByLabel(/^(Password|パスワード)$/).fill(state.users.admin.password);
    await page.getByRole('button', { name: /^(Sign in|サインイン)$/ }).click();
    await expect(page.getByTestId('who')).toBeVisible();
    await page.getByLabel(/^(Language|言語)$/).selectOption(lang);
    for (const p of PAGES) {
      await page.goto(`${state.url}${p.path}`);
      await expect(page.getByTestId(p.ready)).toBeVisible();
      if ('open' in p && p.open) {
        await page.getByRole('button', { name: p.open }).first().click();
        await expect(page.locator('textarea[name="document"]')).toBeVisible();
      }
      expect(await axeViolations(page), `${p.name} (${lang})`).toEqual([]);
      await shoot(page, `${p.name}-${lang}`);
    }
    // The event drawer, over the Events page.
    await page.goto(`${state.url}/events?q=onerror`);
    await page.getByTestId('events').getByRole('button').first().click();
    await expect(page.getByTestId('event-json')).toBeVisible();
    expect(await axeViolations(page)).toEqual([]);
    await shoot(page, `event-detail-${lang}`);
    // Back to English for the other tests.
    await page.getByRole('button', { name: /Close|閉じる/ }).click();
    await page.getByLabel(/^(Language|言語)$/).selectOption('en');
  });
}
