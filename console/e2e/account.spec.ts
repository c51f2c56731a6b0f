// Accounts, tenants and the audit log in a real browser (issue 14, helper c1): TOTP enrolment and
// the sign-in second step with a code computed here (RFC 6238), a wrong code refused; the
// per-user time zone; the Tenants page for primary admins only (UI and direct URL); tenant
// settings; audit-log filters answered by the server.
import { expect, test } from '@playwright/test';
import { createHmac } from 'node:crypto';
import { fillSignIn, guard } from './helpers';
import { call, must, readState } from './manager';

const state = readState();

function base32Decode(s: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of s.replace(/=+$/, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s) at now + `steps` periods.
function totp(secret: string, steps = 0): string {
  const counter = Math.floor(Date.now() / 1000 / 30) + steps;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', base32Decode(secret)).update(msg).digest();
  const off = mac[19] & 0x0f;
  const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(bin % 1_000_000).padStart(6, '0');
}

test('TOTP: enrol, sign out, sign in with a computed code; a wrong code is refused', async ({ page }) => {
  const problems = guard(page);
  const who = { username: 'tara', password: 'totp user password 1' };
  await must(state.url, 'POST', '/api/v1/users', { bearer: state.apiKey, body: { username: who.username, role: 'operator', password: who.password } });
  await fillSignIn(page, who);
  await expect(page.getByTestId('who')).toHaveText(who.username);

  await page.getByRole('link', { name: 'Account' }).click();
  await expect(page.getByTestId('totp-state')).toHaveText(/^Off/);
  await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
  const secret = (await page.getByTestId('totp-secret').textContent()) ?? '';
  expect(secret).toMatch(/^[A-Z2-7]{32}$/);
  await expect(page.getByTestId('totp-uri')).toHaveText(`otpauth://totp/Ward:tara?secret=${secret}&issuer=Ward&algorithm=SHA1&digits=6&period=30`);
  // keyboard only: the code field has focus, Enter submits
  await expect(page.getByLabel('Authentication code')).toBeFocused();
  await page.keyboard.type(totp(secret));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('account-status')).toHaveText('Two-step sign-in is on.');
  await expect(page.getByTestId('totp-state')).toHaveText(/^On/);
  await expect(page.getByTestId('totp-secret')).toHaveCount(0);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await fillSignIn(page, who);
  const code = page.getByLabel('Authentication code');
  await expect(code).toBeVisible();
  await expect(code).toBeFocused();
  const right = totp(secret, 1); // the next step: the current one was used to turn it on
  const wrong = right === '123456' ? '654321' : '123456';
  await code.fill(wrong);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Wrong or already used code. Wait for the next one and try again.');
  await expect(page.getByTestId('who')).toHaveCount(0);
  await code.fill(right);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('who')).toHaveText(who.username);

  // The wrong code is in the audit log of the tenant.
  const audit = await must(state.url, 'GET', `/api/v1/audit?path=/api/v1/session&status=401&order=desc`, { bearer: state.apiKey });
  expect(audit.items.some((e: any) => e.detail?.event === 'wrong TOTP code' && e.detail?.username === 'tara')).toBe(true);
  expect(problems).toEqual([]);
});

test('the time zone chosen beside the language is kept with the user', async ({ page }) => {
  const who = { username: 'zoe', password: 'time zone password 1' };
  await must(state.url, 'POST', '/api/v1/users', { bearer: state.apiKey, body: { username: who.username, role: 'auditor', password: who.password } });
  await fillSignIn(page, who);
  await expect(page.getByTestId('who')).toHaveText(who.username);
  const zone = page.getByLabel('Time zone', { exact: true });
  await expect(zone).toHaveValue('');
  const saved = page.waitForResponse((r) => r.url().endsWith('/api/v1/session') && r.request().method() === 'PATCH');
  await zone.selectOption('America/New_York');
  expect((await saved).status()).toBe(200);
  await page.goto(`${state.url}/admin`);
  await expect(page.getByLabel('Time zone', { exact: true })).toHaveValue('America/New_York');
  // The audit log's times are in New York time, not the browser's Tokyo (14 hours apart in winter).
  const first = await must(state.url, 'GET', '/api/v1/audit?order=desc&limit=1', { bearer: state.apiKey });
  const ny = new Intl.DateTimeFormat('en-GB', { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZone: 'America/New_York' }).format(new Date(first.items[0].at));
  await expect(page.getByTestId('audit').locator('tbody tr').first().locator('td').first()).toHaveText(ny);
});

test('tenants: primary admins create one with its first admin user, who never sees tenants', async ({ page, browser }) => {
  const problems = guard(page);
  await fillSignIn(page, state.users.admin);
  await expect(page.getByTestId('who')).toBeVisible();
  await page.getByRole('link', { name: 'Tenants' }).click();
  await expect(page.getByTestId('tenants')).toContainText('project-b');
  await page.getByLabel('Name', { exact: true }).fill('project-c');
  await page.getByLabel('First admin user').fill('carla');
  await page.getByLabel('Event retention (days)').fill('30');
  await page.getByRole('button', { name: 'Create' }).click();
  const password = (await page.getByTestId('tenant-admin-password').textContent()) ?? '';
  expect(password.length).toBeGreaterThanOrEqual(20);
  await page.getByRole('button', { name: 'Done' }).click();
  const row = page.getByTestId('tenants').locator('tr', { hasText: 'project-c' });
  await expect(row).toContainText('30');
  await expect(row).toContainText('enabled');

  // The new tenant's admin: no Tenants page (navigation or URL), own settings editable.
  const other = await browser.newContext();
  const p2 = await other.newPage();
  await fillSignIn(p2, { username: 'carla', password });
  await expect(p2.getByTestId('who')).toHaveText('carla');
  await expect(p2.getByRole('link', { name: 'Tenants' })).toHaveCount(0);
  await p2.goto(`${state.url}/tenants`);
  await expect(p2.getByTestId('tenants-denied')).toBeVisible();
  await expect(p2.getByText('project-b')).toHaveCount(0);
  await p2.goto(`${state.url}/admin`);
  const settings = p2.getByTestId('tenant-settings');
  await expect(settings.getByLabel('Event retention (days)')).toHaveValue('30');
  await settings.getByLabel('Heartbeat (seconds)').fill('120');
  await settings.getByRole('button', { name: 'Save' }).click();
  await expect(settings.getByRole('status')).toHaveText('Saved.');
  await other.close();
  await page.reload();
  await expect(page.getByTestId('tenants').locator('tr', { hasText: 'project-c' })).toContainText('120');

  // Disable it from the page (keyboard: focus the button, Enter).
  await row.getByRole('button', { name: 'Disable: project-c' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('tenants').locator('tr', { hasText: 'project-c' })).toContainText('disabled');
  expect(problems).toEqual([]);
});

test('audit log filters are answered by the server, newest first, paged by cursor', async ({ page }) => {
  // a refused call, newest of the failures
  expect((await call(state.url, 'DELETE', '/api/v1/policies/no-such-policy-c1', { bearer: state.apiKey })).status).toBe(404);
  await fillSignIn(page, state.users.admin);
  await expect(page.getByTestId('who')).toBeVisible();
  await page.goto(`${state.url}/admin`);
  const table = page.getByTestId('audit');
  await expect(table.locator('tbody tr').first()).toBeVisible();
  const form = page.getByRole('form', { name: 'Audit log filters' });
  await form.getByLabel('Status').selectOption('failed');
  const answered = page.waitForResponse((r) => r.url().includes('/api/v1/audit?') && r.url().includes('status=failed'));
  await form.getByRole('button', { name: 'Apply' }).click();
  expect((await answered).status()).toBe(200);
  await expect(table.locator('tbody tr').first()).toContainText('DELETE /api/v1/policies/no-such-policy-c1');
  const statuses = await table.locator('tbody tr td:nth-child(4)').allTextContents();
  expect(statuses.length).toBeGreaterThan(0);
  for (const s of statuses) expect(Number(s)).toBeGreaterThanOrEqual(400);
  await form.getByLabel('Path contains').fill('/api/v1/tenants');
  await form.getByLabel('Status').selectOption('');
  await form.getByLabel('Method').selectOption('POST');
  await form.getByRole('button', { name: 'Apply' }).click();
  await expect(table.locator('tbody tr').first()).toContainText('POST /api/v1/tenants');
  for (const r of await table.locator('tbody tr td:nth-child(3)').allTextContents()) expect(r).toMatch(/^POST \/api\/v1\/tenants/);
  await form.getByRole('button', { name: 'Clear' }).click();
  await expect(form.getByLabel('Path contains')).toHaveValue('');

  // Paging, in a tenant of its own (the other specs read the primary tenant's first page): 52
  // matching entries are one page of 50 and one of 2, followed by the API's cursor.
  const d = await must(state.url, 'POST', '/api/v1/tenants', { bearer: state.apiKey, body: { name: 'project-d', admin_user: { username: 'dora', password: 'dora password 123' } } });
  for (let i = 0; i < 52; i++) {
    expect((await call(state.url, 'DELETE', `/api/v1/policies/c1-page-${String(i).padStart(2, '0')}`, { bearer: d.admin_key.secret })).status).toBe(404);
  }
  await page.getByRole('button', { name: 'Sign out' }).click();
  await fillSignIn(page, { username: 'dora', password: 'dora password 123' });
  await expect(page.getByTestId('who')).toHaveText('dora');
  await page.goto(`${state.url}/admin`);
  await expect(table.locator('tbody tr').first()).toBeVisible();
  await form.getByLabel('Path contains').fill('c1-page-');
  await form.getByRole('button', { name: 'Apply' }).click();
  await expect(table.locator('tbody tr').first()).toContainText('c1-page-51');
  await expect(table.locator('tbody tr')).toHaveCount(50);
  await expect(page.getByRole('button', { name: 'Newer' })).toBeDisabled();
  await page.getByRole('button', { name: 'Older' }).click();
  await expect(table.locator('tbody tr')).toHaveCount(2);
  await expect(table.locator('tbody tr').last()).toContainText('c1-page-00');
  await expect(page.getByRole('button', { name: 'Older' })).toBeDisabled();
  await page.getByRole('button', { name: 'Newer' }).click();
  await expect(table.locator('tbody tr').first()).toContainText('c1-page-51');
});
