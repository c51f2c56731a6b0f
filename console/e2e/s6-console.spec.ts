// Issue 14's remaining console features (session 6, helper c1), in a real browser against the
// real manager of global-setup: the header on one line at 1366 px in both languages; a policy
// assigned to an activation token from the Policies page and from the token table (audit-logged,
// auditors read only); alerts naming the user who acknowledged them; an IPS exclusion scoped to a
// path prefix, previewed with the agent's own matching; the TOTP enrolment's QR code, decoded
// back to the otpauth URI with an independent decoder. Its data lives in a tenant of its own.
import { expect, test, type Page } from '@playwright/test';
import jsQR from 'jsqr';
import { axeViolations, guard, shoot, signIn } from './helpers';
import { activateAgent, must, readState } from './manager';

const state = readState();

test.describe.configure({ mode: 'serial' });

const s6 = {
  key: '',
  suffix: '',
  admin: { username: '', password: 's6 admin password' },
  operator: { username: '', password: 's6 operator password' },
  auditor: { username: '', password: 's6 auditor password' },
  policy: '',
  token: '',
};

test.beforeAll(async () => {
  if (s6.key) return;
  s6.suffix = Math.random().toString(36).slice(2, 8);
  const tenant = await must(state.url, 'POST', '/api/v1/tenants', { bearer: state.apiKey, body: { name: `project-s6-${s6.suffix}` } });
  s6.key = tenant.admin_key.secret;
  for (const role of ['admin', 'operator', 'auditor'] as const) {
    s6[role].username = `s6-${role}-${s6.suffix}`;
    await must(state.url, 'POST', '/api/v1/users', { bearer: s6.key, body: { username: s6[role].username, role, password: s6[role].password } });
  }
});

// Line boxes of an element's text (2 or more: it wrapped), and whether the header's children share
// one row and fit its width.
async function headerLayout(page: Page) {
  return page.evaluate(() => {
    const header = document.querySelector('header.top') as HTMLElement;
    const lines = (el: Element) => {
      const r = document.createRange();
      r.selectNodeContents(el);
      // One rectangle per line box (text nodes of one line may give several: count distinct tops).
      return new Set(Array.from(r.getClientRects()).map((x) => Math.round(x.top))).size;
    };
    const kids = Array.from(header.children).map((k) => k.getBoundingClientRect());
    return {
      overflow: header.scrollWidth - header.clientWidth,
      oneRow: Math.max(...kids.map((k) => k.top)) < Math.min(...kids.map((k) => k.bottom)),
      height: header.getBoundingClientRect().height,
      signOut: lines(header.querySelector('button') as Element),
      who: lines(header.querySelector('.who') as Element),
      nav: Array.from(header.querySelectorAll('nav a')).map((a) => lines(a)),
    };
  });
}

test('the header stays on one line at 1366 px in English and Japanese (a primary admin: every entry)', async ({ page }) => {
  const problems = guard(page);
  await signIn(page, state.users.admin);
  for (const lang of ['en', 'ja'] as const) {
    await page.getByLabel(/^(Language|言語)$/).selectOption(lang);
    await expect(page.getByRole('navigation').getByRole('link')).toHaveCount(10); // Tenants and Reports included
    await expect(page.getByRole('button', { name: lang === 'en' ? 'Sign out' : 'サインアウト' })).toBeVisible();
    const l = await headerLayout(page);
    expect(l.signOut, `${lang}: Sign out on one line`).toBe(1);
    expect(l.who, `${lang}: user, tenant and role on one line`).toBe(1);
    expect(l.nav.every((n) => n === 1), `${lang}: every navigation entry on one line`).toBe(true);
    expect(l.oneRow, `${lang}: one row`).toBe(true);
    expect(l.overflow, `${lang}: nothing outside the header`).toBeLessThanOrEqual(0);
    expect(l.height).toBeLessThan(56);
  }
  expect(problems).toEqual([]);
});

test('an operator assigns a policy to an activation token from the Policies page and the token table', async ({ page }) => {
  const problems = guard(page);
  const web = await must(state.url, 'POST', '/api/v1/policies', { bearer: s6.key, body: { name: 'web-asg', document: { integrity: { paths: ['/var/www'] } } } });
  const db = await must(state.url, 'POST', '/api/v1/policies', { bearer: s6.key, body: { name: 'db-asg', document: { integrity: { paths: ['/var/lib/db'] } } } });
  const tok = await must(state.url, 'POST', '/api/v1/activation-tokens', { bearer: s6.key, body: { name: 'asg-tokyo' } });
  s6.policy = web.id;
  s6.token = tok.id;

  await signIn(page, s6.operator);
  await page.getByRole('navigation').getByRole('link', { name: 'Policies' }).click();
  await page.getByTestId('policies').getByRole('row', { name: /web-asg/ }).getByRole('button', { name: 'Edit' }).click();
  const card = page.getByTestId('policy-tokens');
  await expect(card).toContainText('No activation token assigns this policy.');
  // Keyboard only: the select, then Enter on the button.
  const select = card.locator('select[name="token"]');
  await select.focus();
  await select.selectOption({ label: 'asg-tokyo' });
  await page.keyboard.press('Tab');
  await expect(card.getByRole('button', { name: 'Assign' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('token-notice')).toHaveText('Activation token asg-tokyo: policy set to web-asg.');
  await expect(card.locator(`li[data-token="${tok.id}"]`)).toHaveText('asg-tokyo');
  let stored = await must(state.url, 'GET', `/api/v1/activation-tokens/${tok.id}`, { bearer: s6.key });
  expect(stored.policy_id).toBe(web.id);

  // The token table of the Administration page: the same assignment as a select.
  await page.getByRole('navigation').getByRole('link', { name: 'Administration' }).click();
  const cell = page.getByTestId('tokens').getByLabel('Policy: asg-tokyo');
  await expect(cell).toHaveValue(web.id);
  await cell.selectOption({ label: 'db-asg' });
  await expect.poll(async () => (await must(state.url, 'GET', `/api/v1/activation-tokens/${tok.id}`, { bearer: s6.key })).policy_id).toBe(db.id);

  // Both changes are in the audit log, with the policy before and after.
  const audit = await must(state.url, 'GET', `/api/v1/audit?limit=100&order=desc&path=/api/v1/activation-tokens/${tok.id}`, { bearer: s6.key });
  const patches = audit.items.filter((e: any) => e.method === 'PATCH' && e.status === 200);
  expect(patches.map((e: any) => [e.detail.previous_policy_id, e.detail.policy_id])).toEqual([
    [web.id, db.id],
    [null, web.id],
  ]);
  expect(problems).toEqual([]);
});

test('an auditor sees the assignments and cannot change them', async ({ page }) => {
  const problems = guard(page);
  await signIn(page, s6.auditor);
  await page.getByRole('navigation').getByRole('link', { name: 'Policies' }).click();
  await page.getByTestId('policies').getByRole('row', { name: /db-asg/ }).getByRole('button', { name: 'Edit' }).click();
  const card = page.getByTestId('policy-tokens');
  await expect(card.locator('li')).toHaveText(['asg-tokyo']);
  await expect(card.getByRole('button', { name: 'Assign' })).toHaveCount(0);
  await page.getByRole('navigation').getByRole('link', { name: 'Administration' }).click();
  await expect(page.getByTestId('tokens')).toContainText('db-asg');
  await expect(page.getByTestId('tokens').getByRole('combobox')).toHaveCount(0);
  // Even a hand-made request with the session's CSRF token is refused (403).
  const r = await page.evaluate(async (id) => {
    const s = await (await fetch('/api/v1/session')).json();
    const res = await fetch(`/api/v1/activation-tokens/${id}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json', 'X-Ward-CSRF': s.csrf_token },
      body: '{"policy_id":null}',
    });
    return res.status;
  }, s6.token);
  expect(r).toBe(403);
  expect(problems).toEqual([]);
});

test('alerts show the name of the user who acknowledged them', async ({ page }) => {
  const problems = guard(page);
  const agent = await activateAgent(state.url, s6.key, 'alert-host-s6');
  const at = new Date(Date.now() - 60_000).toISOString();
  const ev = { '@timestamp': at, event: { id: `0191aaaa-bbbb-7ccc-8ddd-${Date.now().toString(16).padStart(12, '0').slice(-12)}`, kind: 'event', module: 'integrity', action: 'baseline_tampered', severity: 4 }, host: { name: 'alert-host-s6' } };
  await must(state.url, 'POST', '/agent/v1/events', { bearer: agent.credential, raw: JSON.stringify(ev) + '\n', contentType: 'application/x-ndjson' });
  await signIn(page, s6.operator);
  await page.getByRole('navigation').getByRole('link', { name: 'Alerts' }).click();
  const table = page.getByTestId('alerts');
  await table.getByRole('checkbox', { name: /^Select alert:/ }).first().check();
  await page.getByLabel('Reason').fill('looking into it');
  await page.getByRole('button', { name: 'Acknowledge' }).click();
  await expect(page.getByTestId('alert-notice')).toContainText('Acknowledged');
  await page.getByTestId('alert-state').selectOption('acknowledged');
  await expect(table).toContainText(`Acknowledged: ${s6.operator.username} · `);
  await expect(table).not.toContainText('user:');
  expect(problems).toEqual([]);
});

test('IPS tuning: a false positive excluded under a path prefix, previewed as the agent matches', async ({ page }) => {
  const problems = guard(page);
  const policy = await must(state.url, 'POST', '/api/v1/policies', { bearer: s6.key, body: { name: 'api-web', document: { ips: { mode: 'detect', ports: [80] } } } });
  const web = await activateAgent(state.url, s6.key, 'api-01', policy.id);
  const now = Date.now();
  const line = (n: number, url: string) =>
    JSON.stringify({
      '@timestamp': new Date(now - (10 - n) * 60_000).toISOString(),
      event: { id: `0192${String(n).padStart(4, '0')}-aaaa-7aaa-8aaa-${now.toString(16).slice(-12).padStart(12, '0')}`, kind: 'alert', module: 'ips', action: 'detected', severity: 2 },
      rule: { id: ['942100'] },
      ips: { matches: [{ id: '942100', variable: 'ARGS:q', message: 'SQL Injection Attack Detected via libinjection', data: 'x' }] },
      source: { ip: '10.2.0.1' },
      http: { request: { method: 'GET' } },
      url: { original: url, path: url.split('?')[0] },
    });
  // Three under /api/, and two that only look like it: they resolve elsewhere.
  const urls = ['/api/search?q=1', '/api/search?q=2', '/api/v2/items?q=3', '/api/..%2fadmin?q=4', '/api/..;/admin?q=5'];
  const r = await must(state.url, 'POST', '/agent/v1/events', { bearer: web.credential, raw: urls.map((u, i) => line(i + 1, u)).join('\n') + '\n', contentType: 'application/x-ndjson' });
  expect(r.accepted).toBe(5);

  await signIn(page, s6.operator);
  await page.getByRole('navigation').getByRole('link', { name: 'IPS tuning' }).click();
  await page.getByTestId('tuning-policy').selectOption({ label: 'api-web (v1)' });
  await page.locator('tr[data-rule="942100"]').getByRole('button', { name: 'Details' }).click();
  const detail = page.getByTestId('tuning-detail');
  await detail.getByLabel('this rule on one target under a path prefix').check();
  await expect(detail.getByRole('textbox', { name: 'Target' })).toHaveValue('ARGS:q');
  const prefix = detail.getByRole('textbox', { name: 'Path prefix' });
  await expect(prefix).toHaveValue('/api/'); // the directory of the top path
  // A prefix the agent would refuse is refused by the preview, with the reason.
  await prefix.fill('/api/../admin');
  await detail.getByRole('button', { name: 'Preview' }).click();
  await expect(page.getByRole('alert')).toContainText('exclude_path');
  await prefix.fill('/api/');
  await detail.getByRole('button', { name: 'Preview' }).click();
  await expect(page.getByTestId('tuning-preview')).toHaveText('3 past events had this match; 3 would not have been reported at all.');
  await detail.getByRole('button', { name: 'Mark as false positive' }).click();
  await expect(page.getByTestId('tuning-notice')).toHaveText('Rule 942100 excluded on ARGS:q under /api/. Saved as policy version 2.');
  const stored = await must(state.url, 'GET', `/api/v1/policies/${policy.id}`, { bearer: s6.key });
  expect(stored.document.ips.exclusions).toEqual([{ id: 942100, target: 'ARGS:q', path_prefix: '/api/' }]);
  expect(problems).toEqual([]);
});

// The QR code's modules, read back from the SVG path the page drew (one unit square per dark
// module), rasterised and decoded with jsQR.
async function decodeQr(page: Page): Promise<string | undefined> {
  const qr = page.getByTestId('totp-qr');
  const viewBox = (await qr.getAttribute('viewBox')) ?? '';
  const size = Number(viewBox.split(' ')[2]);
  const d = (await qr.locator('path').getAttribute('d')) ?? '';
  const dark = new Set(Array.from(d.matchAll(/M(\d+) (\d+)h1v1h-1z/g), (m) => `${m[1]},${m[2]}`));
  const scale = 4;
  const n = size * scale;
  const rgba = new Uint8ClampedArray(n * n * 4);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const v = dark.has(`${Math.floor(x / scale)},${Math.floor(y / scale)}`) ? 0 : 255;
      rgba.set([v, v, v, 255], (y * n + x) * 4);
    }
  }
  return jsQR(rgba, n, n)?.data;
}

test('TOTP enrolment shows a QR code that decodes to the otpauth URI shown as text', async ({ page }) => {
  const problems = guard(page);
  await signIn(page, s6.admin);
  await page.getByRole('navigation').getByRole('link', { name: 'Account' }).click();
  const start = page.getByRole('button', { name: 'Set up an authenticator app' });
  await start.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('totp-qr')).toBeVisible();
  await expect(page.getByRole('img', { name: /QR code of the authenticator URI/ })).toBeVisible();
  const uri = (await page.getByTestId('totp-uri').textContent()) ?? '';
  expect(uri).toMatch(/^otpauth:\/\/totp\//);
  expect(uri).toContain(`secret=${await page.getByTestId('totp-secret').textContent()}`);
  expect(await decodeQr(page)).toBe(uri);
  expect(problems).toEqual([]);
});

test.describe('s6 screenshots and axe-core', () => {
  test.use({ bypassCSP: true });
  for (const lang of ['en', 'ja'] as const) {
    test(`token assignment, path-prefix tuning and the TOTP QR code pass axe-core (${lang})`, async ({ page }) => {
      await signIn(page, s6.admin);
      await page.getByLabel(/^(Language|言語)$/).selectOption(lang);
      await page.goto(`${state.url}/policies`);
      await page.getByTestId('policies').getByRole('row', { name: /db-asg/ }).getByRole('button').first().click();
      await expect(page.getByTestId('policy-tokens')).toBeVisible();
      expect(await axeViolations(page), `policies (${lang})`).toEqual([]);
      await page.getByTestId('policy-tokens').scrollIntoViewIfNeeded();
      await shoot(page, `policy-tokens-${lang}`);

      await page.goto(`${state.url}/tuning`);
      await page.getByTestId('tuning-policy').selectOption({ label: 'api-web (v2)' });
      await page.locator('tr[data-rule="942100"]').getByRole('button').click();
      const detail = page.getByTestId('tuning-detail');
      await detail.locator('input[name="scope"][value="prefix"]').check();
      await detail.getByRole('button').filter({ hasText: /Preview|プレビュー/ }).click();
      await expect(page.getByTestId('tuning-preview')).toBeVisible();
      expect(await axeViolations(page), `tuning (${lang})`).toEqual([]);
      await shoot(page, `tuning-prefix-${lang}`);

      await page.goto(`${state.url}/account`);
      await page.getByRole('button', { name: lang === 'en' ? 'Set up an authenticator app' : '認証アプリを設定する' }).click();
      await expect(page.getByTestId('totp-qr')).toBeVisible();
      expect(await axeViolations(page), `account (${lang})`).toEqual([]);
      await shoot(page, `account-qr-${lang}`);
    });
  }
});
