// Alert rules and channels, an alert's delivery log, reports, active response's blocked addresses
// and egress (learned proposals accepted, "add to allow-list" from an event), in a real browser
// against the real manager of global-setup, in a tenant of its own (issues #17 and #19).
import { expect, test, type Page } from '@playwright/test';
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { axeViolations, guard, shoot, signIn } from './helpers';
import { activateAgent, call, must, readState } from './manager';

const state = readState();
const HOSTILE = '<img src=x onerror=alert(8)>';

test.describe.configure({ mode: 'serial' });

const s8 = {
  key: '',
  suffix: '',
  admin: { username: '', password: 's8 admin password' },
  operator: { username: '', password: 's8 operator password' },
  auditor: { username: '', password: 's8 auditor password' },
  web: { agent_id: '', credential: '' },
  fw: { agent_id: '', credential: '' },
  policy: '',
};

function uuid7(ms: number): string {
  const hex = ms.toString(16).padStart(12, '0');
  const r = randomUUID().replace(/-/g, '');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${r.slice(13, 16)}-8${r.slice(17, 20)}-${r.slice(20, 32)}`;
}

// Sends whole event documents as the agent (each gets @timestamp and event.id if it has none).
async function sendDocs(credential: string, hostname: string, docs: Array<Record<string, any>>) {
  const now = Date.now();
  const lines = docs.map((d, i) => {
    const t = now - (docs.length - i) * 1000;
    return JSON.stringify({ '@timestamp': new Date(t).toISOString(), host: { name: hostname }, ...d, event: { id: uuid7(t), kind: 'event', ...d.event } });
  });
  const r = await must(state.url, 'POST', '/agent/v1/events', { bearer: credential, raw: lines.join('\n') + '\n', contentType: 'application/x-ndjson' });
  if (r.accepted !== docs.length) throw new Error(`events: ${JSON.stringify(r)}`);
}

// A webhook receiver on a free loopback port: what it was sent, answered 200.
interface Hook {
  server: Server;
  url: string;
  got: Array<{ headers: IncomingMessage['headers']; body: string }>;
}
async function startHook(): Promise<Hook> {
  const got: Hook['got'] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}
let hook: Hook | null = null;

test.beforeAll(async () => {
  if (s8.key) return;
  const suffix = Math.random().toString(36).slice(2, 8);
  s8.suffix = suffix;
  const tenant = await must(state.url, 'POST', '/api/v1/tenants', { bearer: state.apiKey, body: { name: `project-s8-${suffix}` } });
  s8.key = tenant.admin_key.secret;
  for (const role of ['admin', 'operator', 'auditor'] as const) {
    s8[role].username = `s8-${role}-${suffix}`;
    await must(state.url, 'POST', '/api/v1/users', { bearer: s8.key, body: { username: s8[role].username, role, password: s8[role].password } });
  }
  const policy = await must(state.url, 'POST', '/api/v1/policies', {
    bearer: s8.key,
    body: { name: 's8-egress', document: { egress: { mode: 'detect', services: [{ id: 'web', unit: 'nginx.service', mode: 'learn', learn_for: '1h' }, { id: 'backup', exe: '/usr/bin/rsync', mode: 'learn' }] } } },
  });
  s8.policy = policy.id;
  s8.web = await activateAgent(state.url, s8.key, 's8-web', policy.id);
  s8.fw = await activateAgent(state.url, s8.key, `s8-fw-${HOSTILE}`);
  // An alert of the built-in "malware found" rule, for the channel's test and the delivery log.
  await sendDocs(s8.fw.credential, 's8-fw', [{ event: { module: 'antimalware', action: 'quarantine', severity: 3 }, file: { path: '/tmp/eicar.com' }, rule: { id: 'EICAR', name: `EICAR ${HOSTILE}` } }]);
  hook = await startHook();
});
test.afterAll(async () => {
  await new Promise<void>((resolve) => (hook ? hook.server.close(() => resolve()) : resolve()));
});

async function goAlertsTab(page: Page, tab: RegExp) {
  await page.getByRole('navigation', { name: 'main' }).getByRole('link', { name: /^(Alerts|アラート)$/ }).click();
  await page.getByTestId('alert-tabs').getByRole('link', { name: tab }).click();
}

test('channels: errors at the field, secrets write-only, a test notification delivered and in the log', async ({ page }) => {
  const problems = guard(page);
  await signIn(page, s8.operator);
  await goAlertsTab(page, /^Channels$/);
  await page.getByRole('button', { name: 'New channel' }).click();
  const form = page.getByTestId('channel-form');
  await form.locator('[name="name"]').fill(`hook ${HOSTILE}`);
  await form.locator('[name="url"]').fill('ftp://127.0.0.1/hook');
  await form.locator('[name="secret"]').fill('s8 webhook secret');
  await form.getByRole('button', { name: 'Save' }).click();
  // The API's error, at the URL field (and tied to it).
  await expect(form.getByTestId('error-config.url')).toHaveText('config.url: expected an http:// or https:// URL');
  await expect(form.locator('[name="url"]')).toHaveAttribute('aria-invalid', 'true');
  await form.locator('[name="url"]').fill(hook!.url);
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('channels-notice')).toHaveText(`Channel hook ${HOSTILE} saved.`);
  const row = page.getByTestId('alert-channels').getByRole('row', { name: /hook/ });
  await expect(row).toContainText(hook!.url);
  // The secret is never sent back; editing without typing it keeps it.
  const listed = await must(state.url, 'GET', '/api/v1/alert-channels', { bearer: s8.key });
  const channel = listed.items[0];
  expect(channel.config.secret_set).toBe(true);
  expect(JSON.stringify(listed)).not.toContain('s8 webhook secret');
  await row.getByRole('button', { name: 'Edit' }).click();
  await expect(form.locator('[name="secret"]')).toHaveValue('');
  await expect(form.getByTestId('secret-state')).toHaveText('Set (never shown). Leave empty to keep it.');
  await form.locator('[name="format"]').selectOption('slack');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('channels-notice')).toContainText('saved');
  const after = await must(state.url, 'GET', `/api/v1/alert-channels/${channel.id}`, { bearer: s8.key });
  expect(after.config).toMatchObject({ format: 'slack', secret_set: true });

  // An e-mail channel: a recipient's language the API refuses, shown at the recipients.
  await page.getByRole('button', { name: 'New channel' }).click();
  await form.locator('[name="name"]').fill('ops mail');
  await form.locator('[name="kind"]').selectOption('email');
  await form.locator('[name="url"]').fill('smtp://127.0.0.1:2525');
  await form.locator('[name="from"]').fill('ward@example.com');
  await form.locator('[name="password"]').fill('smtp pass');
  await form.locator('[name="recipients"]').fill('ops@example.com en\nsec@example.jp fr');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(form.getByTestId('error-config.recipients')).toHaveText('config.recipients[1].language: expected en or ja');
  await form.locator('[name="recipients"]').fill('ops@example.com en\nsec@example.jp ja');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('alert-channels').getByRole('row', { name: /ops mail/ })).toContainText('sec@example.jp');
  const mail = (await must(state.url, 'GET', '/api/v1/alert-channels', { bearer: s8.key })).items.find((c: any) => c.name === 'ops mail');
  expect(mail.config).toMatchObject({ password_set: true, recipients: [{ address: 'ops@example.com', language: 'en' }, { address: 'sec@example.jp', language: 'ja' }] });
  expect(mail.config.password).toBeUndefined();

  // Send test (keyboard): the latest alert goes to the receiver, signed with the kept secret.
  await row.getByRole('button', { name: 'Send test' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('channels-notice')).toContainText('is queued for hook');
  await expect.poll(() => hook!.got.length, { timeout: 30_000 }).toBeGreaterThan(0);
  const sent = hook!.got[0];
  const expected = 'sha256=' + createHmac('sha256', 's8 webhook secret').update(`${sent.headers['x-ward-timestamp']}.${sent.body}`).digest('hex');
  expect(sent.headers['x-ward-signature']).toBe(expected);
  const latest = (await must(state.url, 'GET', '/api/v1/alerts?limit=1', { bearer: s8.key })).items[0];
  expect(JSON.parse(sent.body)).toBeTruthy();
  await page.getByTestId('channels-notice').getByRole('link', { name: 'Open its delivery log' }).click();
  await expect(page.getByTestId('delivery-alert')).toContainText(latest.title);
  await expect(async () => {
    await page.getByRole('button', { name: 'Refresh' }).click();
    await expect(page.getByTestId('deliveries').getByTestId('delivery-state')).toHaveText('Sent', { timeout: 1000 });
  }).toPass({ timeout: 30_000 });
  const log = page.getByTestId('deliveries');
  await expect(log).toContainText(`hook ${HOSTILE}`);
  await expect(log).toContainText('manual');
  await expect(log).toContainText('delivered');
  await expect(log).toContainText('HTTP 200');
  // Sent again from the log, to the e-mail channel: a second delivery row at once.
  await page.locator('select[name="channel"]').selectOption({ label: 'ops mail' });
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await expect(page.getByTestId('deliveries-notice')).toHaveText('Queued for ops mail.');
  await expect(log.locator('tbody tr')).toHaveCount(2);
  await expect(log).toContainText('ops mail');
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(problems).toEqual([]);
});

test('alert rules: the defaults shown, a rule made with its error at the field, enabled/disabled, a default changed and reset', async ({ page }) => {
  const problems = guard(page);
  await signIn(page, s8.operator);
  await goAlertsTab(page, /^Alert rules$/);
  const table = page.getByTestId('alert-rules');
  const malware = table.locator('tr[data-rule="builtin.malware_found"]');
  await expect(malware).toContainText('Built-in');
  await expect(malware).toContainText('antimalware');
  await expect(table.locator('tr[data-rule^="builtin."]')).not.toHaveCount(0);

  await page.getByRole('button', { name: 'New alert rule' }).click();
  const form = page.getByTestId('rule-form');
  await form.locator('[name="name"]').fill(`web logins ${HOSTILE}`);
  await form.locator('[name="modules"]').fill('ips');
  await form.locator('[name="actions"]').fill('blocked');
  await form.locator('[name="paths"]').fill('/login*');
  await form.locator('[name="window_s"]').fill('0');
  await form.getByRole('checkbox', { name: /hook/ }).check();
  await form.getByRole('button', { name: 'Save' }).click();
  const windowError = form.getByTestId('error-window_s');
  await expect(windowError).toContainText('window_s');
  await expect(form.locator('[name="window_s"]')).toHaveAttribute('aria-invalid', 'true');
  await form.locator('[name="window_s"]').fill('600');
  await form.locator('[name="period_s"]').fill('0');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(form.getByTestId('error-throttle.period_s')).toContainText('throttle.period_s');
  await expect(windowError).toHaveCount(0);
  await form.locator('[name="period_s"]').fill('3600');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('rules-notice')).toHaveText(`Alert rule web logins ${HOSTILE} saved.`);
  const mine = table.getByRole('row', { name: /web logins/ });
  await expect(mine).toContainText('Modules: ips · Actions: blocked · Paths or URLs: /login*');
  await expect(mine).toContainText(`hook ${HOSTILE}`);
  const rules = (await must(state.url, 'GET', '/api/v1/alert-rules', { bearer: s8.key })).items;
  const made = rules.find((r: any) => !r.builtin);
  expect(made).toMatchObject({ name: `web logins ${HOSTILE}`, enabled: true, window_s: 600, filter: { modules: ['ips'], actions: ['blocked'], paths: ['/login*'] } });
  expect(made.channels).toHaveLength(1);

  await mine.getByRole('button', { name: 'Disable' }).click();
  await expect(mine).toContainText('Disabled');
  expect((await must(state.url, 'GET', `/api/v1/alert-rules/${made.id}`, { bearer: s8.key })).enabled).toBe(false);
  await mine.getByRole('button', { name: 'Enable' }).click();
  await expect(mine).toContainText('Enabled');

  // A built-in default: the filter is fixed, its window and channels change; Reset restores it.
  await malware.getByRole('button', { name: 'Edit' }).click();
  await expect(form.locator('[name="modules"]')).toHaveJSProperty('readOnly', true);
  await form.locator('[name="window_s"]').fill('900');
  await form.getByRole('checkbox', { name: /ops mail/ }).check();
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('rules-notice')).toHaveText('Alert rule Malware found saved.');
  const changed = await must(state.url, 'GET', '/api/v1/alert-rules/builtin.malware_found', { bearer: s8.key });
  expect(changed.window_s).toBe(900);
  expect(changed.channels).toHaveLength(1);
  await malware.getByRole('button', { name: 'Reset' }).click();
  await expect(page.getByTestId('rules-notice')).toHaveText('Alert rule Malware found is the default as shipped again.');
  expect((await must(state.url, 'GET', '/api/v1/alert-rules/builtin.malware_found', { bearer: s8.key })).channels).toEqual([]);

  await mine.getByRole('button', { name: 'Delete' }).click();
  await expect(table.getByRole('row', { name: /web logins/ })).toHaveCount(0);
  expect(problems).toEqual([]);
});

test('an auditor sees rules and channels without controls', async ({ page }) => {
  await signIn(page, s8.auditor, 'en');
  await page.goto(`${state.url}/alerts/channels`);
  await expect(page.getByTestId('alert-channels')).toContainText('ops mail');
  await expect(page.getByRole('button', { name: 'New channel' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Send test' })).toHaveCount(0);
  await page.goto(`${state.url}/alerts/rules`);
  await expect(page.getByTestId('alert-rules')).toContainText('Malware found');
  await expect(page.getByRole('button', { name: 'Edit' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'New alert rule' })).toHaveCount(0);
  // Another tenant's alert id is not found.
  const other = await must(state.url, 'GET', '/api/v1/alerts?state=open&limit=1', { bearer: state.apiKey });
  await page.goto(`${state.url}/alerts/${other.items[0].id}/deliveries`);
  await expect(page.getByRole('alert')).toHaveText('No such alert in this tenant.');
});

test('reports: run now with the period checked at the field, download, schedules with recipients', async ({ page }) => {
  const problems = guard(page);
  await signIn(page, s8.operator);
  await page.getByRole('navigation', { name: 'main' }).getByRole('link', { name: 'Reports' }).click();
  await expect(page.getByTestId('reports-empty')).toBeVisible();
  await page.locator('form.run-report [name="kind"]').selectOption('summary');
  await page.locator('form.run-report [name="format"]').selectOption('html');
  await page.locator('form.run-report [name="from"]').fill('2026-12-01');
  await page.locator('form.run-report [name="to"]').fill('2026-11-01');
  await page.getByRole('button', { name: 'Run now' }).click();
  await expect(page.getByTestId('error-to')).toHaveText('to: must be after from');
  const today = new Date();
  const day = (d: Date) => d.toISOString().slice(0, 10);
  await page.locator('form.run-report [name="from"]').fill(day(new Date(today.getTime() - 2 * 86400_000)));
  await page.locator('form.run-report [name="to"]').fill(day(new Date(today.getTime() + 86400_000)));
  await page.getByRole('button', { name: 'Run now' }).click();
  await expect(page.getByTestId('report-made')).toContainText('Summary report ready');
  const rows = page.getByTestId('reports').locator('tbody tr');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText('HTML · English');
  await expect(rows.first()).toContainText(s8.operator.username); // user:<id> shown by name
  // The download is the report the API keeps, byte for byte; it names the tenant's hosts.
  const [download] = await Promise.all([page.waitForEvent('download'), rows.first().getByRole('link', { name: /^Download the Summary report/ }).click()]);
  const path = await download.path();
  const html = readFileSync(path!, 'utf8');
  const listed = (await must(state.url, 'GET', '/api/v1/reports', { bearer: s8.key })).items;
  expect(listed).toHaveLength(1);
  expect(Buffer.byteLength(html)).toBe(listed[0].size);
  expect(html).toContain('s8-web');
  expect(html).not.toContain(HOSTILE); // escaped in the report's HTML
  expect(listed[0]).toMatchObject({ kind: 'summary', format: 'html', language: 'en' });

  // Schedules: a recipient that is not an address is refused at the field.
  await page.getByRole('button', { name: 'New schedule' }).click();
  const form = page.getByTestId('schedule-form');
  await form.locator('[name="name"]').fill(`weekly PCI ${HOSTILE}`);
  await form.locator('[name="frequency"]').selectOption('weekly');
  await form.locator('[name="kind"]').selectOption('pci_dss');
  await form.locator('[name="language"]').selectOption('ja');
  await form.locator('[name="recipients"]').fill('soc@example.com\nnot-an-address');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(form.getByTestId('error-recipients')).toContainText('recipients[1]');
  await form.locator('[name="recipients"]').fill('soc@example.com\naudit@example.jp');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('reports-notice')).toContainText(`Schedule weekly PCI ${HOSTILE} saved; next run`);
  const sched = page.getByTestId('schedules').getByRole('row', { name: /weekly PCI/ });
  await expect(sched).toContainText('soc@example.com, audit@example.jp');
  await expect(sched).toContainText('Weekly (Mondays)');
  await sched.getByRole('button', { name: 'Edit' }).click();
  await form.locator('[name="frequency"]').selectOption('monthly');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(sched).toContainText('Monthly (the 1st)');
  const schedules = (await must(state.url, 'GET', '/api/v1/report-schedules', { bearer: s8.key })).items;
  expect(schedules).toHaveLength(1);
  expect(schedules[0]).toMatchObject({ frequency: 'monthly', kind: 'pci_dss', language: 'ja', recipients: ['soc@example.com', 'audit@example.jp'] });
  expect(new Date(schedules[0].next_run_at).getUTCDate()).toBe(1);
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(problems).toEqual([]);
});

test('an auditor runs a report but changes no schedule', async ({ page }) => {
  await signIn(page, s8.auditor, 'en');
  await page.goto(`${state.url}/reports`);
  await expect(page.getByTestId('schedules')).toContainText('weekly PCI');
  await expect(page.getByRole('button', { name: 'New schedule' })).toHaveCount(0);
  await expect(page.getByTestId('reports').getByRole('button', { name: 'Delete' })).toHaveCount(0);
  await page.locator('form.run-report [name="format"]').selectOption('csv');
  await page.getByRole('button', { name: 'Run now' }).click();
  await expect(page.getByTestId('report-made')).toContainText('ready');
  await expect(page.getByTestId('reports').locator('tbody tr')).toHaveCount(2);
  await page.getByRole('button', { name: /Sign out/ }).click();
  // The operator deletes the schedule; its reports stay.
  await signIn(page, s8.operator, 'en');
  await page.goto(`${state.url}/reports`);
  await page.getByTestId('schedules').getByRole('row', { name: /weekly PCI/ }).getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByTestId('schedules-empty')).toBeVisible();
  await expect(page.getByTestId('reports').locator('tbody tr')).toHaveCount(2);
});

test('blocked addresses: listed per host, one removed and then all, through the command channel', async ({ page }) => {
  const problems = guard(page);
  const block = (ip: string, rule: string) => ({
    event: { module: 'firewall', action: 'address_blocked', severity: 2 },
    source: { ip },
    rule: { id: rule },
    firewall: { mode: 'prevent', duration_s: 3600, cause: { module: 'loginspect' } },
  });
  await sendDocs(s8.fw.credential, 's8-fw', [block('203.0.113.7', 'ssh-brute-force'), block('2001:db8::7', `waf ${HOSTILE}`), block('198.51.100.9', 'ssh-brute-force')]);
  await signIn(page, s8.operator);
  await page.getByRole('navigation', { name: 'main' }).getByRole('link', { name: 'Computers' }).click();
  await page.getByRole('link', { name: 'Blocked addresses' }).click();
  const table = page.getByTestId('blocked');
  await expect(table.locator('tbody tr')).toHaveCount(3);
  await expect(table.locator('tr[data-address="2001:db8::7"]')).toContainText(`waf ${HOSTILE}`);
  await expect(table.locator('tr[data-address="203.0.113.7"]')).toContainText(`s8-fw-${HOSTILE}`);
  await expect(table.locator('tr[data-address="203.0.113.7"]')).toContainText('loginspect · prevent');
  // One address, by keyboard.
  await table.getByRole('button', { name: `Remove the block of 203.0.113.7 on s8-fw-${HOSTILE}` }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('blocked-notice')).toHaveText(`Removal of 203.0.113.7 queued for s8-fw-${HOSTILE}.`);
  await expect(table.locator('tr[data-address="203.0.113.7"]').getByTestId('removal-queued')).toBeVisible();
  let cmds = (await must(state.url, 'GET', `/api/v1/agents/${s8.fw.agent_id}/commands`, { bearer: s8.key })).items;
  expect(cmds.map((c: any) => [c.name, c.args])).toEqual([['firewall.unblock', { address: '203.0.113.7' }]]);
  // The host runs it and reports the unblock: the address leaves the list.
  await sendDocs(s8.fw.credential, 's8-fw', [{ event: { module: 'firewall', action: 'address_unblocked', severity: 1 }, source: { ip: '203.0.113.7' } }]);
  await page.getByRole('button', { name: 'Refresh' }).click();
  await expect(table.locator('tbody tr')).toHaveCount(2);
  await expect(table.locator('tr[data-address="203.0.113.7"]')).toHaveCount(0);
  // Every address of the host, and only of one host in the filter.
  await page.getByTestId('blocked-host').selectOption({ label: `s8-fw-${HOSTILE}` });
  await expect(page).toHaveURL(new RegExp(`agent=${s8.fw.agent_id}`));
  await page.getByRole('button', { name: `Remove all on s8-fw-${HOSTILE}` }).click();
  await expect(page.getByTestId('blocked-notice')).toHaveText(`Removal of every block queued for s8-fw-${HOSTILE}.`);
  await expect(table.getByTestId('removal-queued')).toHaveCount(2);
  cmds = (await must(state.url, 'GET', `/api/v1/agents/${s8.fw.agent_id}/commands`, { bearer: s8.key })).items;
  expect(cmds.map((c: any) => JSON.stringify(c.args)).sort()).toEqual(['{"address":"203.0.113.7"}', '{}']);
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(problems).toEqual([]);
});

test('an auditor sees blocked addresses without the remove buttons; a hand-made removal is refused', async ({ page }) => {
  await signIn(page, s8.auditor, 'en');
  await page.goto(`${state.url}/network/blocked-addresses`);
  await expect(page.getByTestId('blocked').locator('tbody tr')).toHaveCount(2);
  await expect(page.getByRole('button', { name: /^Remove/ })).toHaveCount(0);
  const csrf = await page.evaluate(async () => (await (await fetch('/api/v1/session')).json()).csrf_token);
  const status = await page.evaluate(
    async ([id, token]) => (await fetch(`/api/v1/agents/${id}/blocked-addresses/198.51.100.9`, { method: 'DELETE', headers: { 'X-Ward-CSRF': token } })).status,
    [s8.fw.agent_id, csrf],
  );
  expect(status).toBe(403);
});

test('egress: a learned proposal accepted with one action; "add to allow-list" from an event', async ({ page }) => {
  const problems = guard(page);
  await sendDocs(s8.web.credential, 's8-web', [
    { event: { module: 'egress', action: 'allowlist_proposed', severity: 0 }, egress: { service: { id: 'web' }, proposed_allow: ['old.example.com'], learn_for_s: 3600 } },
    { event: { module: 'egress', action: 'allowlist_proposed', severity: 0 }, egress: { service: { id: 'web' }, proposed_allow: ['cdn.example.net', 'api.example.com', '10.0.0.0/8'], learn_for_s: 3600 } },
    { event: { module: 'egress', action: 'allowlist_proposed', severity: 0 }, egress: { service: { id: 'backup' }, proposed_allow: ['backup.example.net'], learn_for_s: 3600 } },
  ]);
  // Another host without the policy proposes for a service of the same id: not shown.
  await sendDocs(s8.fw.credential, 's8-fw', [{ event: { module: 'egress', action: 'allowlist_proposed', severity: 0 }, egress: { service: { id: 'web' }, proposed_allow: ['not-this-policy.example'] } }]);
  await signIn(page, s8.operator);
  await page.getByRole('navigation', { name: 'main' }).getByRole('link', { name: 'Policies' }).click();
  await page.getByTestId('policies').getByRole('row', { name: /s8-egress/ }).getByRole('button', { name: 'Edit' }).click();
  const box = page.getByTestId('egress-proposals');
  const web = box.locator('tr[data-service="web"]');
  await expect(web.getByTestId('proposed').locator('li')).toHaveText(['10.0.0.0/8', 'api.example.com', 'cdn.example.net']);
  await expect(web).toContainText('learned on s8-web');
  await expect(web).not.toContainText('not-this-policy');
  await web.getByLabel('Mode for web after accepting').selectOption('prevent');
  await web.getByRole('button', { name: 'Accept for web' }).click();
  await expect(page.getByTestId('egress-notice')).toHaveText('Accepted: 3 destinations allowed for web, now in prevent mode (policy version 2).');
  await expect(web).toContainText('prevent');
  await expect(web.getByTestId('proposal-accepted')).toBeVisible();
  await expect(web.getByRole('button', { name: 'Accept for web' })).toHaveCount(0);
  // The other service is still learning, its proposal waiting.
  await expect(box.locator('tr[data-service="backup"]').getByRole('button', { name: 'Accept for backup' })).toBeVisible();
  await expect(page.locator('textarea[name="document"]')).toHaveValue(/cdn\.example\.net/);
  let p = await must(state.url, 'GET', `/api/v1/policies/${s8.policy}`, { bearer: s8.key });
  expect(p.version).toBe(2);
  expect(p.document.egress.services[0]).toMatchObject({ id: 'web', mode: 'prevent', allow: ['10.0.0.0/8', 'api.example.com', 'cdn.example.net'] });
  expect(p.document.egress.services[0].learn_for).toBeUndefined();
  expect(p.document.egress.services[1]).toEqual({ id: 'backup', exe: '/usr/bin/rsync', mode: 'learn' });

  // An egress event of the service: its destination added from the event's drawer.
  await sendDocs(s8.web.credential, 's8-web', [
    {
      event: { module: 'egress', action: 'blocked', severity: 2 },
      egress: { verdict: 'blocked', list: 'service:web', service: { id: 'web', mode: 'prevent' }, learned_by: 'sni' },
      destination: { domain: 'pkg.example.org', ip: '192.0.2.10', port: 443 },
      tls: { client: { server_name: 'pkg.example.org' } },
      rule: { id: 'egress:service:web' },
    },
  ]);
  await page.goto(`${state.url}/events?module=egress&action=blocked`);
  await page.getByTestId('events').locator('tbody tr').first().getByRole('button').first().click();
  const drawer = page.getByRole('dialog');
  await expect(drawer.getByTestId('allow-from-event')).toContainText('policy s8-egress, service web');
  await drawer.getByRole('button', { name: 'Add pkg.example.org to the allow-list' }).click();
  await expect(drawer.getByTestId('allow-notice')).toHaveText('pkg.example.org added (policy s8-egress, service web): policy version 3.');
  p = await must(state.url, 'GET', `/api/v1/policies/${s8.policy}`, { bearer: s8.key });
  expect(p.version).toBe(3);
  expect(p.document.egress.services[0].allow).toEqual(['10.0.0.0/8', 'api.example.com', 'cdn.example.net', 'pkg.example.org']);
  // A second click changes nothing.
  await drawer.getByRole('button', { name: 'Add pkg.example.org to the allow-list' }).click();
  await expect(drawer.getByTestId('allow-notice')).toHaveText('pkg.example.org is already allowed (policy s8-egress, service web).');
  expect((await must(state.url, 'GET', `/api/v1/policies/${s8.policy}`, { bearer: s8.key })).version).toBe(3);
  // Both changes are in the audit log as policy edits.
  const audit = await must(state.url, 'GET', `/api/v1/audit?method=PATCH&path=${encodeURIComponent(`/api/v1/policies/${s8.policy}`)}`, { bearer: s8.key });
  expect(audit.items.length).toBe(2);
  expect(problems).toEqual([]);
});

test('an auditor gets no accept or add-to-allow-list buttons', async ({ page }) => {
  await signIn(page, s8.auditor, 'en');
  await page.goto(`${state.url}/policies`);
  await page.getByTestId('policies').getByRole('row', { name: /s8-egress/ }).getByRole('button', { name: 'Edit' }).click();
  await expect(page.getByTestId('egress-proposals')).toContainText('cdn.example.net');
  await expect(page.getByRole('button', { name: /^Accept for/ })).toHaveCount(0);
  await page.goto(`${state.url}/events?module=egress&action=blocked`);
  await page.getByTestId('events').locator('tbody tr').first().getByRole('button').first().click();
  await expect(page.getByTestId('event-json')).toContainText('pkg.example.org');
  await expect(page.getByTestId('allow-from-event')).toHaveCount(0);
});

// What the pages look like in use: a rule of the tenant's own, a schedule and a PDF report.
let seeded = false;
async function seedForScreenshots() {
  if (seeded) return;
  seeded = true;
  const channels = (await must(state.url, 'GET', '/api/v1/alert-channels', { bearer: s8.key })).items;
  await must(state.url, 'POST', '/api/v1/alert-rules', {
    bearer: s8.key,
    body: { name: 'web logins', filter: { modules: ['ips'], actions: ['blocked'], hostnames: ['web-*'], paths: ['/login*'] }, window_s: 600, throttle: { max_alerts: 10, period_s: 3600 }, channels: [channels[0].id] },
  });
  await must(state.url, 'POST', '/api/v1/report-schedules', {
    bearer: s8.key,
    body: { name: 'weekly PCI', frequency: 'weekly', kind: 'pci_dss', format: 'pdf', language: 'ja', recipients: ['soc@example.com', 'audit@example.jp'] },
  });
  await must(state.url, 'POST', '/api/v1/reports', { bearer: s8.key, body: { kind: 'pci_dss', format: 'pdf', language: 'ja' } });
}

test.describe('screenshots and axe-core', () => {
  test.use({ bypassCSP: true });
  for (const lang of ['en', 'ja'] as const) {
    test(`the new pages pass axe-core and are shot (${lang})`, async ({ page }) => {
      await seedForScreenshots();
      await signIn(page, s8.admin);
      await page.getByLabel(/^(Language|言語)$/).selectOption(lang);
      const pages: Array<{ url: string; ready: string; name: string; open?: (p: Page) => Promise<void> }> = [
        { url: '/alerts/rules', ready: 'alert-rules', name: 'alert-rules' },
        { url: '/alerts/channels', ready: 'alert-channels', name: 'alert-channels' },
        { url: '/reports', ready: 'reports', name: 'reports' },
        { url: '/network/blocked-addresses', ready: 'blocked', name: 'blocked-addresses' },
      ];
      for (const p of pages) {
        await page.goto(`${state.url}${p.url}`);
        await expect(page.getByTestId(p.ready)).toBeVisible();
        expect(await axeViolations(page), `${p.name} (${lang})`).toEqual([]);
        await shoot(page, `${p.name}-${lang}`);
      }
      // A rule's form with an error at its field.
      await page.goto(`${state.url}/alerts/rules`);
      await page.locator('tr[data-rule="builtin.malware_found"]').getByRole('button', { name: /^(Edit|編集)$/ }).click();
      await page.getByTestId('rule-form').locator('input[name="window_s"]').fill('0');
      await page.getByTestId('rule-form').locator('input[name="period_s"]').fill('0');
      await page.getByTestId('rule-form').getByRole('button', { name: /^(Save|保存)$/ }).click();
      await expect(page.getByTestId('error-throttle.period_s')).toBeVisible();
      await page.getByTestId('rule-form').scrollIntoViewIfNeeded();
      expect(await axeViolations(page), `rule form (${lang})`).toEqual([]);
      await shoot(page, `alert-rule-form-${lang}`);
      // The delivery log of the alert the channel test sent.
      const alert = (await must(state.url, 'GET', '/api/v1/alerts?limit=1', { bearer: s8.key })).items[0];
      await page.goto(`${state.url}/alerts/${alert.id}/deliveries`);
      await expect(page.getByTestId('deliveries')).toBeVisible();
      expect(await axeViolations(page), `deliveries (${lang})`).toEqual([]);
      await shoot(page, `alert-deliveries-${lang}`);
      // The policy's egress proposals and an egress event's drawer.
      await page.goto(`${state.url}/policies`);
      await page.getByTestId('policies').getByRole('row', { name: /s8-egress/ }).getByRole('button', { name: /^(Edit|編集)$/ }).click();
      await expect(page.getByTestId('egress-proposals')).toBeVisible();
      await page.getByTestId('egress-proposals').scrollIntoViewIfNeeded();
      expect(await axeViolations(page), `egress proposals (${lang})`).toEqual([]);
      await shoot(page, `policy-egress-${lang}`);
      await page.goto(`${state.url}/events?module=egress&action=blocked`);
      await page.getByTestId('events').locator('tbody tr').first().getByRole('button').first().click();
      await expect(page.getByTestId('allow-from-event')).toBeVisible();
      expect(await axeViolations(page), `event drawer (${lang})`).toEqual([]);
      await shoot(page, `event-allow-${lang}`);
      await page.getByLabel(/^(Language|言語)$/).selectOption('en');
    });
  }
});

test('hand-made requests of another tenant see none of this', async () => {
  // global-setup's first tenant: none of this tenant's channels, rules, reports or blocks.
  const ch = await call(state.url, 'GET', '/api/v1/alert-channels', { bearer: state.apiKey });
  expect(JSON.stringify(ch.body)).not.toContain('ops mail');
  const rep = await call(state.url, 'GET', '/api/v1/reports', { bearer: state.apiKey });
  expect(JSON.stringify(rep.body)).not.toContain(s8.operator.username);
  const bl = await call(state.url, 'GET', '/api/v1/blocked-addresses', { bearer: state.apiKey });
  expect(JSON.stringify(bl.body)).not.toContain('2001:db8::7');
});
