// The console in a real browser against a real manager (e2e/global-setup.ts fills it).
import { expect, test } from '@playwright/test';
import { request as httpsRequest, Agent } from 'node:https';
import { guard, signIn } from './helpers';
import { readState } from './manager';

const HOSTILE_FILE = '/var/www/<img src=x onerror=alert(1)>.html';
const HOSTILE_URL = '/search?q=<script>alert(2)</script>';

const state = readState();

// Sends a request with only the given cookie (no browser), as an attacker holding it would.
function withCookie(path: string, cookie: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = httpsRequest(`${state.url}${path}`, { agent: new Agent({ rejectUnauthorized: false }), headers: { Cookie: cookie } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    r.on('error', reject);
    r.end();
  });
}

test('sign-in, a wrong password, and sign-out that ends the session on the server', async ({ page, context }) => {
  const problems = guard(page);
  await page.goto(`${state.url}/`);
  await page.getByLabel('User name').fill(state.users.admin.username);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Wrong user name or password.');

  await signIn(page, state.users.admin);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === '__Host-ward_session');
  expect(session).toBeDefined();
  expect(session!.httpOnly).toBe(true);
  expect(session!.secure).toBe(true);
  expect(session!.sameSite).toBe('Strict');
  const cookie = `${session!.name}=${session!.value}`;
  expect(await withCookie('/api/v1/session', cookie)).toBe(200);
  // The script cannot read the session cookie.
  expect(await page.evaluate(() => document.cookie)).toBe('');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in to Ward' })).toBeVisible();
  expect(await withCookie('/api/v1/session', cookie)).toBe(401);
  expect(await withCookie('/api/v1/agents', cookie)).toBe(401);
  expect(problems).toEqual([]);
});

test('sign-in is throttled per user with 429 and an audit entry', async ({ page }) => {
  await page.goto(`${state.url}/`);
  let throttled = false;
  for (let i = 0; i < 14 && !throttled; i++) {
    await page.getByLabel('User name').fill(state.users.throttled.username);
    await page.getByLabel('Password').fill(`wrong ${i}`);
    const answer = page.waitForResponse((r) => r.url().endsWith('/api/v1/session') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const res = await answer;
    if (res.status() === 429) {
      throttled = true;
      expect(Number(res.headers()['retry-after'])).toBeGreaterThan(0);
    } else {
      expect(res.status()).toBe(401);
    }
  }
  expect(throttled).toBe(true);
  await expect(page.getByRole('alert')).toContainText('Too many attempts');
  // Even the right password is refused while throttled.
  await page.getByLabel('Password').fill(state.users.throttled.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('Too many attempts');
  const audit = await page.request.get(`${state.url}/api/v1/audit?limit=1000`, { headers: { Authorization: `Bearer ${state.apiKey}` } });
  const items = (await audit.json()).items as Array<{ status: number; detail: { username?: string; event?: string } }>;
  expect(items.some((e) => e.status === 429 && e.detail.username === 'tess' && e.detail.event === 'sign-in throttled')).toBe(true);
  expect(items.filter((e) => e.status === 401 && e.detail.username === 'tess').length).toBeGreaterThanOrEqual(1);
});

test('every page shows the tenant data; hostile event content stays text', async ({ page }) => {
  const problems = guard(page);
  await signIn(page, state.users.admin);
  // Dashboard
  await expect(page.getByRole('heading', { name: 'Dashboard' })).toBeVisible();
  await expect(page.getByTestId('dash-total')).toHaveText('67 events');
  await expect(page.getByRole('img', { name: 'By module' })).toBeVisible();
  await expect(page.getByTestId('attention')).toContainText('web-02');
  await expect(page.getByTestId('attention')).toContainText('module degraded');
  await expect(page.getByRole('link', { name: '941100' })).toBeVisible();
  await expect(page.getByRole('link', { name: HOSTILE_FILE })).toBeVisible();
  // Computers
  await page.getByRole('navigation').getByRole('link', { name: 'Computers' }).click();
  await expect(page.getByTestId('computers')).toContainText('web-01');
  await expect(page.getByTestId('computers')).toContainText('web-02');
  await expect(page.getByTestId('computers')).not.toContainText('b-secret-host');
  // Events: the hostile name and URL are text; no element was made from them.
  await page.getByRole('navigation').getByRole('link', { name: 'Events' }).click();
  await expect(page.getByTestId('events')).toBeVisible();
  await page.goto(`${state.url}/events?q=onerror`);
  await expect(page.getByTestId('events').getByRole('cell', { name: HOSTILE_FILE })).toBeVisible();
  await page.goto(`${state.url}/events?module=ips&min_severity=3`);
  await expect(page.getByTestId('events').getByRole('cell', { name: HOSTILE_URL })).toBeVisible();
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(await page.locator('main script').count()).toBe(0);
  // The detail drawer shows the whole event as text.
  await page.getByTestId('events').getByRole('row', { name: /alert\(2\)/ }).getByRole('button').click();
  await expect(page.getByTestId('event-json')).toContainText('"original": "/search?q=<script>alert(2)</script>"');
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('event-json')).toHaveCount(0);
  // Policies
  await page.getByRole('navigation').getByRole('link', { name: 'Policies' }).click();
  await expect(page.getByTestId('policies')).toContainText('web');
  await expect(page.getByTestId('policies')).not.toContainText('b-policy');
  // Administration
  await page.getByRole('navigation').getByRole('link', { name: 'Administration' }).click();
  await expect(page.getByTestId('users')).toContainText('olivia');
  await expect(page.getByTestId('users')).not.toContainText('bob');
  await expect(page.getByTestId('audit')).toContainText('/api/v1/users');
  expect(problems).toEqual([]);
});

test('the events filter lives in the URL, pages with a cursor and survives a reload', async ({ page }) => {
  const problems = guard(page);
  await signIn(page, state.users.admin);
  await page.goto(`${state.url}/events?module=ips&min_severity=3`);
  const rows = page.getByTestId('events').locator('tbody tr');
  await expect(rows).toHaveCount(2);
  await expect(page.locator('select[name="module"]')).toHaveValue('ips');
  await expect(page.locator('select[name="min_severity"]')).toHaveValue('3');
  // Change the filter through the form: the URL follows.
  await page.locator('select[name="min_severity"]').selectOption('1');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/\/events\?module=ips&min_severity=1$/);
  await expect(rows).toHaveCount(50);
  await page.getByRole('button', { name: 'Next page' }).click();
  await expect(page).toHaveURL(/cursor=/);
  await expect(rows).toHaveCount(12); // 62 ips events in all
  await page.reload();
  await expect(rows).toHaveCount(12);
  await page.getByRole('button', { name: 'First page' }).click();
  await expect(rows).toHaveCount(50);
  // Text search (path/URL/rule) through the form.
  await page.goto(`${state.url}/events`);
  await page.locator('input[name="q"]').fill('nginx.conf');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/\/events\?q=nginx.conf$/);
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText('/etc/nginx/nginx.conf');
  expect(problems).toEqual([]);
});

test('two tenants never see each other, through the UI or direct URLs', async ({ page }) => {
  const problems = guard(page);
  await signIn(page, state.users.bob);
  await page.getByRole('navigation').getByRole('link', { name: 'Computers' }).click();
  await expect(page.getByTestId('computers')).toContainText('b-secret-host');
  await expect(page.getByTestId('computers')).not.toContainText('web-01');
  await page.goto(`${state.url}/events`);
  await expect(page.getByTestId('events')).toContainText('/srv/b-only-path/secret.txt');
  await expect(page.getByTestId('events')).not.toContainText('/var/www');
  // Another tenant's agent by id: no events, and the API answers 404.
  await page.goto(`${state.url}/events?agent=${state.agents.web1}`);
  await expect(page.getByText('No events match.')).toBeVisible();
  for (const path of [`/api/v1/agents/${state.agents.web1}`, `/api/v1/policies/${state.policy}`]) {
    expect((await page.request.get(`${state.url}${path}`)).status()).toBe(404);
  }
  await page.goto(`${state.url}/admin`);
  await expect(page.getByTestId('users')).toContainText('bob');
  await expect(page.getByTestId('users')).not.toContainText('olivia');
  expect(problems).toEqual([]);
});

test('an auditor reads everything and changes nothing; Japanese is their language', async ({ page }) => {
  const problems = guard(page);
  await signIn(page, state.users.auditor);
  await expect(page.getByRole('navigation').getByRole('link', { name: 'イベント' })).toBeVisible();
  await page.getByRole('navigation').getByRole('link', { name: 'ポリシー' }).click();
  await expect(page.getByTestId('policies')).toContainText('web');
  await expect(page.getByRole('button', { name: '新しいポリシー' })).toHaveCount(0);
  await page.getByRole('navigation').getByRole('link', { name: '管理' }).click();
  await expect(page.getByTestId('users')).toContainText('olivia');
  await expect(page.getByRole('button', { name: '作成' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: '削除' })).toHaveCount(0);
  // Even a hand-made request with the session's CSRF token is refused (403).
  const status = await page.evaluate(async (policy) => {
    const s = await (await fetch('/api/v1/session')).json();
    const r = await fetch(`/api/v1/policies/${policy}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json', 'X-Ward-CSRF': s.csrf_token },
      body: JSON.stringify({ name: 'renamed' }),
    });
    return r.status;
  }, state.policy);
  expect(status).toBe(403);
  expect(problems).toEqual([]);
});

test('a mutating request with the cookie but without the CSRF token is refused', async ({ page }) => {
  await signIn(page, state.users.operator);
  const statuses = await page.evaluate(async (policy) => {
    const noToken = await fetch(`/api/v1/policies/${policy}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'renamed' }),
    });
    const wrong = await fetch(`/api/v1/policies/${policy}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json', 'X-Ward-CSRF': 'f'.repeat(64) },
      body: JSON.stringify({ name: 'renamed' }),
    });
    return [noToken.status, wrong.status];
  }, state.policy);
  expect(statuses).toEqual([403, 403]);
});

test('an operator edits a policy; the agent validator error names the key', async ({ page }) => {
  const problems = guard(page);
  await signIn(page, state.users.operator);
  await page.getByRole('navigation').getByRole('link', { name: 'Policies' }).click();
  await page.getByRole('button', { name: 'Edit' }).first().click();
  const doc = page.locator('textarea[name="document"]');
  await doc.fill(JSON.stringify({ integrity: { paths: [{ path: '/x', recursive: 'maybe' }] } }, null, 2));
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('policy-error')).toContainText('document.integrity.paths[0].recursive');
  await doc.fill(JSON.stringify({ integrity: { paths: ['/var/www', '/etc/nginx'], schedule: '1h' } }, null, 2));
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('status')).toHaveText('Saved as version 2.');
  await expect(page.getByTestId('policies').getByRole('row', { name: /web/ })).toContainText('2');
  expect(problems).toEqual([]);
});

test('an admin creates an activation token and sees the install command once', async ({ page }) => {
  const problems = guard(page);
  await signIn(page, state.users.admin);
  await page.getByRole('navigation').getByRole('link', { name: 'Administration' }).click();
  const form = page.getByRole('form', { name: 'Create: Activation tokens' });
  await form.getByLabel('Name').fill('e2e web asg');
  await form.getByLabel('Policy').selectOption({ label: 'web' });
  await form.getByRole('button', { name: 'Create' }).click();
  await expect(page.getByTestId('install-command')).toContainText(`ward-agent activate --manager ${state.url} --token wat_`);
  await expect(page.getByTestId('install-command')).toContainText('--manager-fingerprint ');
  await expect(page.getByTestId('tokens')).toContainText('e2e web asg');
  expect(problems).toEqual([]);
});
