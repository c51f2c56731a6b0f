// Policies as YAML with key-and-line errors, version history with a diff, and alerts triage
// (issue 14, console helper c3), in a real browser against the real manager of global-setup.
import { expect, test } from '@playwright/test';
import { axeViolations, guard, shoot, signIn } from './helpers';
import { activateAgent, must, readState, sendEvents } from './manager';

const state = readState();
const HOSTILE_RULE = '<img src=x onerror=alert(3)>';

test.describe.configure({ mode: 'serial' });

// A tenant of its own, so this file's data never shows in the other specs' pages and counts.
const c3 = {
  key: '',
  admin: { username: '', password: 'c3 admin password' },
  operator: { username: '', password: 'c3 operator password' },
  auditor: { username: '', password: 'c3 auditor password' },
};
test.beforeAll(async () => {
  if (c3.key) return;
  const suffix = Math.random().toString(36).slice(2, 8);
  const tenant = await must(state.url, 'POST', '/api/v1/tenants', { bearer: state.apiKey, body: { name: `project-c3-${suffix}` } });
  c3.key = tenant.admin_key.secret;
  for (const role of ['admin', 'operator', 'auditor'] as const) {
    c3[role].username = `c3-${role}-${suffix}`;
    await must(state.url, 'POST', '/api/v1/users', { bearer: c3.key, body: { username: c3[role].username, role, password: c3[role].password } });
  }
});

test('an operator writes a policy in YAML: the error names key and line; history shows the diff', async ({ page }) => {
  const problems = guard(page);
  await signIn(page, c3.operator);
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
  const host = await activateAgent(state.url, c3.key, 'alert-host');
  await sendEvents(state.url, host.credential, 'alert-host', [
    { module: 'ips', action: 'blocked', severity: 3, url: '/?q=<script>alert(4)</script>', rule: { id: '999001', name: HOSTILE_RULE }, minutesAgo: 3 },
    { module: 'ips', action: 'blocked', severity: 3, url: '/?q=2', rule: { id: '999001', name: HOSTILE_RULE }, minutesAgo: 2 },
    { module: 'integrity', action: 'modified', severity: 2, path: '/var/www/a.html', minutesAgo: 2 },
    { module: 'autoheal', action: 'restored', severity: 2, path: '/var/www/a.html', minutesAgo: 1 },
  ]);
  await signIn(page, c3.operator);
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
  await expect(acked).toContainText(`Acknowledged: ${c3.operator.username} · `); // by name, not user:<id>
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

test('an auditor sees alerts read-only; other tenants see none of them', async ({ page }) => {
  await signIn(page, c3.auditor);
  await page.goto(`${state.url}/alerts?state=all`);
  await expect(page.getByTestId('alerts')).toBeVisible();
  await expect(page.getByTestId('alerts').getByRole('checkbox')).toHaveCount(0);
  await expect(page.getByRole('button', { name: /Acknowledge|確認済みにする/ })).toHaveCount(0);
  await page.getByRole('button', { name: /Sign out|サインアウト/ }).click();
  for (const other of [state.users.bob, state.users.admin]) {
    await signIn(page, other);
    await page.goto(`${state.url}/alerts?state=all`);
    await expect(page.getByTestId('alerts')).toBeVisible(); // their own alerts (global-setup's)
    await expect(page.getByTestId('alerts')).not.toContainText('alert-host');
    await expect(page.getByTestId('alerts')).not.toContainText('999001');
    await page.getByRole('button', { name: /Sign out|サインアウト/ }).click();
  }
});

test.describe('screenshots and axe-core', () => {
  test.use({ bypassCSP: true });
  for (const lang of ['en', 'ja'] as const) {
    test(`alerts and policy history pass axe-core (${lang})`, async ({ page }) => {
      await signIn(page, c3.admin);
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

test('IPS tuning: detect events → preview → false-positive exclusion → prevent, end to end through the API', async ({ page }) => {
  const problems = guard(page);
  const key = c3.key;
  const policy = await must(state.url, 'POST', '/api/v1/policies', {
    bearer: key,
    body: { name: 'tuned-web', document: { ips: { mode: 'detect', ports: [80] } } },
  });
  const web = await activateAgent(state.url, key, 'tuned-01', policy.id);
  const now = Date.now();
  const line = (n: number, client: string, path: string, matches: Array<[string, string]>, severity: number) =>
    JSON.stringify({
      '@timestamp': new Date(now - (10 - n) * 60_000).toISOString(),
      event: { id: `0190${String(n).padStart(4, '0')}-aaaa-7aaa-8aaa-${randomHex()}`, kind: 'alert', module: 'ips', action: 'detected', severity },
      rule: { id: matches.map((m) => m[0]) },
      ips: { matches: matches.map(([id, variable]) => ({ id, variable, message: `msg ${id}`, data: `<b>${id}</b>` })) },
      source: { ip: client },
      http: { request: { method: 'GET' } },
      url: { original: `${path}?comment=<script>alert(5)</script>`, path },
    });
  const lines = [
    line(1, '10.1.0.1', '/blog/post', [['942430', 'ARGS:comment']], 2),
    line(2, '10.1.0.2', '/blog/post', [['942430', 'ARGS:comment']], 1),
    line(3, '10.1.0.3', '/blog/post', [['942430', 'ARGS:comment'], ['941100', 'ARGS:comment']], 2),
  ];
  const r = await must(state.url, 'POST', '/agent/v1/events', { bearer: web.credential, raw: lines.join('\n') + '\n', contentType: 'application/x-ndjson' });
  expect(r.accepted).toBe(3);

  await signIn(page, c3.operator);
  await page.getByRole('navigation').getByRole('link', { name: 'IPS tuning' }).click();
  await page.getByTestId('tuning-policy').selectOption({ label: `tuned-web (v1)` });
  await expect(page.getByTestId('tuning-summary')).toContainText('3 IPS events on 1 hosts; prevent mode would have blocked 2');
  const row = page.locator('tr[data-rule="942430"]');
  await expect(row).toContainText('ARGS:comment (3)');
  await expect(row).toContainText('/blog/post (3)');
  await row.getByRole('button', { name: 'Details' }).click();
  const detail = page.getByTestId('tuning-detail');
  await expect(detail).toContainText('<script>alert(5)</script>'); // as text
  await expect(detail.getByRole('textbox', { name: 'Target' })).toHaveValue('ARGS:comment');
  await detail.getByRole('button', { name: 'Preview' }).click();
  await expect(page.getByTestId('tuning-preview')).toHaveText('3 past events had this match; 2 would not have been reported at all.');
  await detail.getByRole('button', { name: 'Mark as false positive' }).click();
  await expect(page.getByTestId('tuning-notice')).toHaveText('Rule 942430 excluded on ARGS:comment. Saved as policy version 2.');
  // The exclusion is in the policy, in the agent's own form, validated by its parser.
  let stored = await must(state.url, 'GET', `/api/v1/policies/${policy.id}`, { bearer: key });
  expect(stored.document.ips.exclusions).toEqual([{ id: 942430, target: 'ARGS:comment' }]);
  // Then the whole policy to prevent.
  await expect(page.getByTestId('tuning-mode')).toContainText('detect');
  await page.getByRole('button', { name: 'Switch the policy to prevent' }).click();
  await expect(page.getByTestId('tuning-notice')).toHaveText('The policy now prevents. Saved as policy version 3.');
  await expect(page.getByTestId('tuning-mode')).toContainText('prevent');
  stored = await must(state.url, 'GET', `/api/v1/policies/${policy.id}`, { bearer: key });
  expect(stored.version).toBe(3);
  expect(stored.document.ips.mode).toBe('prevent');
  // Recorded in the audit log.
  const audit = await must(state.url, 'GET', '/api/v1/audit?limit=1000', { bearer: key });
  const edits = audit.items.filter((e: any) => e.method === 'PATCH' && e.path === `/api/v1/policies/${policy.id}` && e.status === 200);
  expect(edits.length).toBe(2);
  expect(await page.locator('b').count()).toBe(0);
  expect(problems).toEqual([]);
});

function randomHex() {
  return Array.from({ length: 12 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
}

test.describe('tuning screenshots and axe-core', () => {
  test.use({ bypassCSP: true });
  for (const lang of ['en', 'ja'] as const) {
    test(`IPS tuning passes axe-core (${lang})`, async ({ page }) => {
      await signIn(page, c3.admin);
      await page.getByLabel(/^(Language|言語)$/).selectOption(lang);
      await page.goto(`${state.url}/tuning`);
      await page.getByTestId('tuning-policy').selectOption({ label: 'tuned-web (v3)' });
      await expect(page.getByTestId('tuning-rules')).toBeVisible();
      await page.locator('tr[data-rule="942430"]').getByRole('button').click();
      await expect(page.getByTestId('tuning-detail')).toBeVisible();
      expect(await axeViolations(page), `tuning (${lang})`).toEqual([]);
      await shoot(page, `tuning-${lang}`);
      await page.getByLabel(/^(Language|言語)$/).selectOption('en');
    });
  }
});
