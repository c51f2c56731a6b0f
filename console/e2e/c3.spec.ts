// Policies as YAML with key-and-line errors, version history with a diff, and alerts triage
// (issue 14, console helper c3), in a real browser against the real manager of global-setup.
import { expect, test, type Page } from '@playwright/test';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { activateAgent, readState, sendEvents } from './manager';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');
const state = readState();
const HOSTILE_RULE = '<img src=x onerror=alert(3)>';

function guard(page: Page) {
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

async function signIn(page: Page, who: { username: string; password: string }) {
  await page.goto(`${state.url}/`);
  await page.getByLabel(/User name|ユーザー名/).fill(who.username);
  await page.getByLabel(/^(Password|パスワード)$/).fill(who.password);
  await page.getByRole('button', { name: /^(Sign in|サインイン)$/ }).click();
  await expect(page.getByTestId('who')).toHaveText(who.username);
}

// axe runs as an injected script, which the CSP forbids: only in the bypassing context below.
async function axeViolations(page: Page) {
  await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const r = await (window as any).axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v: any) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n: any) => n.target.join(' ')).slice(0, 3) }));
  });
  return (violations as Array<{ id: string; impact: string }>).filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

async function shoot(page: Page, name: string) {
  const dir = process.env.WARD_SCREENSHOTS;
  if (dir) await page.screenshot({ path: join(dir, `${name}.png`), fullPage: false });
}

test.describe.configure({ mode: 'serial' });

test('an operator writes a policy in YAML: the error names key and line; history shows the diff', async ({ page }) => {
  const problems = guard(page);
  await signIn(page, state.users.operator);
  await page.getByRole('navigation').getByRole('link', { name: 'Policies' }).click();
  await page.getByRole('button', { name: 'New policy' }).click();
  await page.getByLabel('Name').fill('yaml-web');
  const doc = page.locator('textarea[name="document"]');
  await doc.fill('integrity:\n  paths:\n    - path: /srv\n      recursive: maybe\n');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('policy-error')).toContainText('Line 4');
  await expect(page.getByTestId('policy-error')).toContainText('document.integrity.paths[0].recursive');
  await doc.fill('integrity:\n  paths:\n    - /srv\n  schedule: 1h\n');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('status')).toHaveText('Saved as version 1.');
  await doc.fill('integrity:\n  paths:\n    - /srv\n    - /etc/nginx\n  schedule: 30m\n');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('status')).toHaveText('Saved as version 2.');
  // JSON works too, with the line of a JSON syntax error.
  await page.getByLabel('JSON').check();
  await expect(doc).toHaveValue(/"schedule": "30m"/);
  await doc.fill('{\n  "integrity": {\n    "paths": ["/srv",]\n  }\n}');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('policy-error')).toContainText('Line 3');
  await page.getByRole('button', { name: 'Close' }).first().click();

  await page.getByTestId('policies').getByRole('row', { name: /yaml-web/ }).getByRole('button', { name: 'History' }).click();
  const history = page.getByTestId('policy-history');
  await expect(history.getByTestId('policy-versions').getByRole('row')).toHaveCount(3); // header + 2
  await expect(history.getByTestId('diff-count')).toHaveText('3 lines differ');
  const diff = history.getByTestId('policy-diff');
  await expect(diff.locator('.dl.add')).toHaveText(['+ - /etc/nginx', '+ schedule: 30m']);
  await expect(diff.locator('.dl.del')).toHaveText(['- schedule: 1h']);
  // The same version on both sides: nothing differs.
  await history.getByTestId('diff-from').selectOption('2');
  await expect(history.getByTestId('diff-count')).toHaveText('0 lines differ');
  expect(problems).toEqual([]);
});

test('severe events become alerts; an operator acknowledges and resolves them in bulk', async ({ page }) => {
  const problems = guard(page);
  const host = await activateAgent(state.url, state.apiKey, 'alert-host');
  await sendEvents(state.url, host.credential, 'alert-host', [
    { module: 'ips', action: 'blocked', severity: 3, url: '/?q=<script>alert(4)</script>', rule: { id: '999001', name: HOSTILE_RULE }, minutesAgo: 3 },
    { module: 'ips', action: 'blocked', severity: 3, url: '/?q=2', rule: { id: '999001', name: HOSTILE_RULE }, minutesAgo: 2 },
    { module: 'integrity', action: 'modified', severity: 2, path: '/var/www/a.html', minutesAgo: 2 },
    { module: 'autoheal', action: 'restored', severity: 2, path: '/var/www/a.html', minutesAgo: 1 },
  ]);
  await signIn(page, state.users.operator);
  await page.getByRole('navigation').getByRole('link', { name: 'Alerts' }).click();
  const table = page.getByTestId('alerts');
  const blocked = table.locator('tr', { hasText: 'ips.blocked:999001' });
  await expect(blocked).toHaveCount(1);
  await expect(blocked).toContainText(HOSTILE_RULE); // as text
  await expect(blocked.locator('td').nth(4)).toHaveText('2'); // two events, one alert
  await expect(page.locator('img[src="x"]')).toHaveCount(0);
  const healed = table.locator('tr', { hasText: 'autoheal.restored' });
  await expect(healed).toHaveCount(1);
  await expect(table.locator('tr', { hasText: 'integrity.modified' })).toHaveCount(0);

  // Keyboard only: select both, give a reason, acknowledge.
  await blocked.getByRole('checkbox').focus();
  await page.keyboard.press('Space');
  await healed.getByRole('checkbox').focus();
  await page.keyboard.press('Space');
  await expect(page.getByTestId('alert-selected')).toHaveText('2 selected');
  await page.getByLabel('Reason').fill('looking into it');
  await page.getByRole('button', { name: 'Acknowledge' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('alert-notice')).toHaveText('2 alerts are now Acknowledged.');
  await expect(table.locator('tr', { hasText: 'ips.blocked:999001' })).toHaveCount(0); // left "Open"
  await page.getByTestId('alert-state').selectOption('acknowledged');
  const acked = page.getByTestId('alerts').locator('tr', { hasText: 'ips.blocked:999001' });
  await expect(acked).toContainText('looking into it');
  await expect(acked).toContainText('user:');
  await acked.getByRole('checkbox').check();
  await page.getByRole('button', { name: 'Resolve' }).click();
  await expect(page.getByTestId('alert-notice')).toHaveText('1 alerts are now Resolved.');
  await page.getByTestId('alert-state').selectOption('resolved');
  await expect(page.getByTestId('alerts').locator('tr', { hasText: 'ips.blocked:999001' })).toContainText('Resolved:');
  // The host links to its events.
  await page.getByTestId('alerts').locator('tr', { hasText: 'ips.blocked:999001' }).getByRole('link', { name: 'alert-host' }).click();
  await expect(page).toHaveURL(/\/events\?.*agent=/);
  expect(problems).toEqual([]);
});

test('an auditor sees alerts read-only; another tenant sees none of them', async ({ page }) => {
  await signIn(page, state.users.auditor);
  await page.goto(`${state.url}/alerts?state=all`);
  await expect(page.getByTestId('alerts')).toBeVisible();
  await expect(page.getByTestId('alerts').getByRole('checkbox')).toHaveCount(0);
  await expect(page.getByRole('button', { name: /Acknowledge|確認済みにする/ })).toHaveCount(0);
  await page.getByRole('button', { name: /Sign out|サインアウト/ }).click();
  await signIn(page, state.users.bob);
  await page.goto(`${state.url}/alerts?state=all`);
  await expect(page.getByTestId('alerts')).toBeVisible(); // b's own alert
  await expect(page.getByTestId('alerts')).not.toContainText('alert-host');
  await expect(page.getByTestId('alerts')).not.toContainText('999001');
});

test.describe('screenshots and axe-core', () => {
  test.use({ bypassCSP: true });
  for (const lang of ['en', 'ja'] as const) {
    test(`alerts and policy history pass axe-core (${lang})`, async ({ page }) => {
      await signIn(page, state.users.admin);
      await page.getByLabel(/^(Language|言語)$/).selectOption(lang);
      await page.goto(`${state.url}/alerts?state=all`);
      await expect(page.getByTestId('alerts')).toBeVisible();
      expect(await axeViolations(page), `alerts (${lang})`).toEqual([]);
      await shoot(page, `alerts-${lang}`);
      await page.goto(`${state.url}/policies`);
      await page.getByTestId('policies').getByRole('row', { name: /yaml-web/ }).getByRole('button', { name: /^(History|履歴)$/ }).click();
      await expect(page.getByTestId('policy-diff')).toBeVisible();
      await page.getByTestId('policy-history').scrollIntoViewIfNeeded();
      expect(await axeViolations(page), `policy history (${lang})`).toEqual([]);
      await shoot(page, `policy-history-${lang}`);
      await page.getByLabel(/^(Language|言語)$/).selectOption('en');
    });
  }
});
