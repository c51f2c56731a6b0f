// The Events page's live tail and export, the dashboard's server-side aggregates, and a
// computer's own page with its commands, against the real manager (e2e/global-setup.ts). Named to
// run after the other specs: it adds agents and events they would otherwise count.
import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { axeViolations, guard, shoot, signIn } from './helpers';
import { activateAgent, must, readState, sendEvents } from './manager';

const state = readState();

// RFC 4180 records.
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  return rows;
}

let tailAgent: { agent_id: string; credential: string };

test.beforeAll(async () => {
  tailAgent = await activateAgent(state.url, state.apiKey, 'tail-01', undefined, [{ name: 'integrity', state: 'running' }]);
});

test('new events appear in the open Events page without reload, once each', async ({ page }) => {
  const problems = guard(page);
  await signIn(page, state.users.admin, 'en');
  await page.goto(`${state.url}/events`);
  await expect(page.getByTestId('events')).toBeVisible();
  await expect(page.getByTestId('tail-status')).toHaveText(/^Live/);
  const marker = `/var/www/live-${Date.now()}.html`;
  await sendEvents(state.url, tailAgent.credential, 'tail-01', [{ module: 'integrity', action: 'created', severity: 3, path: marker, minutesAgo: 0 }]);
  const row = page.getByTestId('events').locator('tr', { hasText: marker });
  await expect(row).toHaveCount(1);
  await expect(row).toHaveClass(/fresh/);
  // A second event: it appears too (two more polls ran), and the first is still there once.
  const marker2 = `${marker}.second`;
  await sendEvents(state.url, tailAgent.credential, 'tail-01', [{ module: 'integrity', action: 'modified', severity: 2, path: marker2, minutesAgo: 0 }]);
  await expect(page.getByTestId('events').locator('tr', { hasText: marker2 })).toHaveCount(1);
  await expect(page.getByTestId('events').locator('tr', { hasText: marker })).toHaveCount(2); // its own row and marker2's (a longer path)
  await expect(page.getByTestId('events').locator('tbody tr').first()).toContainText(marker2);
  // An event an agent delivers late (from its spool: two hours older than every row shown) is
  // found by the tail too, because it follows the order events arrive in, not their time.
  const late = `${marker}.late`;
  await sendEvents(state.url, tailAgent.credential, 'tail-01', [{ module: 'integrity', action: 'modified', severity: 2, path: late, minutesAgo: 120 }]);
  const lateRow = page.getByTestId('events').locator('tr', { hasText: late });
  await expect(lateRow).toHaveCount(1);
  await expect(lateRow).toHaveClass(/fresh/);
  await expect(page.getByTestId('events').locator('tbody tr').first()).toContainText(late);
  const ids = await page.getByTestId('events').locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event-id')));
  expect(new Set(ids).size).toBe(ids.length);
  // The tail stops while the user edits the filter, and on request; it resumes with the button.
  await page.locator('input[name="q"]').fill('something');
  await expect(page.getByTestId('tail-status')).toHaveText(/paused/);
  await page.getByRole('button', { name: 'Clear' }).click();
  await page.getByRole('button', { name: 'Pause live tail' }).click();
  await expect(page.getByTestId('tail-status')).toHaveText('Live tail off');
  await page.getByRole('button', { name: 'Resume live tail' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('tail-status')).toHaveText(/^Live:/);
  // A later page has no tail.
  await page.goto(`${state.url}/events?to=2020-01-01T00:00:00Z`);
  await expect(page.getByTestId('tail-status')).toHaveCount(0);
  expect(problems).toEqual([]);
});

test('export of the current filter as CSV and NDJSON', async ({ page }) => {
  const problems = guard(page);
  await signIn(page, state.users.auditor, 'en');
  await page.goto(`${state.url}/events?module=ips`);
  await expect(page.getByTestId('events')).toBeVisible();
  const want = await must(state.url, 'GET', '/api/v1/events?module=ips&order=desc&limit=1000', { bearer: state.apiKey });
  const [csvDownload] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
  const rows = parseCsv(readFileSync(await csvDownload.path()!, 'utf8'));
  expect(rows[0].slice(0, 2)).toEqual(['@timestamp', 'event.id']);
  expect(rows.slice(1).map((r) => r[1])).toEqual(want.items.map((e: any) => e.event.id));
  expect(rows.slice(1).every((r) => r[5] === 'ips')).toBe(true);
  // The hostile URL is a value in a cell, quoted where needed, never a formula.
  expect(rows.some((r) => r[11] === '/search?q=<script>alert(2)</script>')).toBe(true);
  const [ndjsonDownload] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-ndjson').click()]);
  const lines = readFileSync(await ndjsonDownload.path()!, 'utf8').trim().split('\n');
  expect(lines.map((l) => JSON.parse(l).event.id)).toEqual(want.items.map((e: any) => e.event.id));
  expect(problems).toEqual([]);
});

test('the dashboard counts every event of the range on the server', async ({ page }) => {
  const problems = guard(page);
  const heal = await activateAgent(state.url, state.apiKey, 'heal-01', undefined, [{ name: 'autoheal', state: 'running' }]);
  await sendEvents(state.url, heal.credential, 'heal-01', [
    ...Array.from({ length: 3 }, () => ({ module: 'autoheal', action: 'restored', severity: 2, path: '/var/www/index.html', minutesAgo: 2 })),
    { module: 'antimalware', action: 'quarantine', severity: 3, path: '/tmp/eicar.com', minutesAgo: 2 },
  ]);
  await signIn(page, state.users.admin, 'en');
  await page.goto(`${state.url}/?range=24h`);
  await expect(page.getByTestId('dash-heals')).toHaveText('3');
  // This one and the global set-up's shell.php (the agent's own action name, docs/events.md).
  await expect(page.getByTestId('dash-quarantines')).toHaveText('2');
  // web-02's 60 events of rule 920350 make it the top rule; the link filters the Events page.
  await expect(page.getByTestId('top-rules').locator('li').first()).toContainText('920350');
  await expect(page.getByTestId('top-rules').locator('li').first()).toContainText('60');
  await expect(page.getByTestId('top-hosts').locator('li').first()).toContainText('web-02');
  await page.getByTestId('top-rules').getByRole('link').first().click();
  await expect(page).toHaveURL(/\/events\?.*q=920350/);
  await expect(page.getByTestId('events')).toBeVisible();
  expect(problems).toEqual([]);
});

test("a computer's page: facts, modules, policy, events, and a command run now with its result", async ({ page }) => {
  const problems = guard(page);
  const hostile = '<img src=x onerror=alert(3)>';
  const a = await activateAgent(state.url, state.apiKey, `cmd-${hostile}`, state.policy, [{ name: 'integrity', state: 'running' }]);
  await must(state.url, 'POST', '/agent/v1/heartbeat', {
    bearer: a.credential,
    body: {
      machine_id: `m-cmd-${hostile}`,
      status: {
        version: '0.1.0',
        hostname: `cmd-${hostile}`,
        policy_version: 0,
        modules: [
          { name: 'integrity', state: 'running', health: { state: 'ok', reasons: [], counters: { files_watched: 1520, realtime_backend: 'fanotify' } } },
          { name: 'antimalware', state: 'running', health: { state: 'degraded', reasons: [`signatures old ${hostile}`], counters: { engine: 'clamav' } } },
        ],
      },
    },
  });
  await sendEvents(state.url, a.credential, 'cmd', [{ module: 'integrity', action: 'modified', severity: 2, path: '/var/www/cmd-page.html', minutesAgo: 1 }]);
  await signIn(page, state.users.operator, 'en');
  await page.getByRole('navigation').getByRole('link', { name: 'Computers' }).click();
  await page.getByTestId('computers').getByRole('link', { name: `cmd-${hostile}` }).click();
  await expect(page).toHaveURL(new RegExp(`/computers/${a.agent_id}$`));
  await expect(page.getByTestId('computer-name')).toHaveText(`cmd-${hostile}`);
  await expect(page.getByTestId('modules')).toContainText('degraded');
  await expect(page.getByTestId('modules')).toContainText(`signatures old ${hostile}`);
  await expect(page.getByTestId('modules')).toContainText('files_watched');
  await expect(page.getByTestId('policy-state')).toHaveText(/pending/);
  await expect(page.getByTestId('policy-json')).toContainText('/var/www');
  await expect(page.getByTestId('computer-events')).toContainText('/var/www/cmd-page.html');
  expect(await page.locator('img[src="x"]').count()).toBe(0);

  // Run an integrity check now: queued, fetched by the agent's heartbeat, its result shown.
  await page.getByRole('button', { name: 'Run integrity check now' }).click();
  await expect(page.getByTestId('commands').locator('tr[data-command="integrity.check"]')).toContainText('queued');
  const { version } = await must(state.url, 'GET', `/api/v1/policies/${state.policy}`, { bearer: state.apiKey });
  const hb = await must(state.url, 'POST', '/agent/v1/heartbeat', { bearer: a.credential, body: { machine_id: `m-cmd-${hostile}`, status: { version: '0.1.0', policy_version: version } } });
  const cmd = hb.commands.find((c: any) => c.name === 'integrity.check');
  expect(cmd).toBeDefined();
  await must(state.url, 'POST', '/agent/v1/heartbeat', {
    bearer: a.credential,
    body: { machine_id: `m-cmd-${hostile}`, status: { version: '0.1.0', policy_version: version }, command_results: [{ id: cmd.id, status: 'ok', output: { records: 42, changes: 1, warnings: 0 } }] },
  });
  const row = page.getByTestId('commands').locator('tr[data-command="integrity.check"]');
  await expect(row).toContainText('completed');
  await expect(row).toContainText('"records":42');
  await page.reload();
  await expect(page.getByTestId('policy-state')).toHaveText('applied');
  // The scan button queues antimalware.scan (keyboard).
  await page.getByRole('button', { name: 'Run malware scan now' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('commands').locator('tr[data-command="antimalware.scan"]')).toContainText('queued');
  // The link to its events filters the Events page.
  await page.getByRole('link', { name: 'All events of this computer' }).click();
  await expect(page).toHaveURL(new RegExp(`/events\\?agent=${a.agent_id}`));
  await expect(page.getByTestId('events')).toContainText('/var/www/cmd-page.html');
  expect(problems).toEqual([]);
});

test('auditors see a computer but cannot run commands; another tenant gets not found', async ({ page }) => {
  await signIn(page, state.users.auditor, 'en');
  await page.goto(`${state.url}/computers/${state.agents.web1}`);
  await expect(page.getByTestId('computer-name')).toHaveText('web-01');
  await expect(page.getByRole('button', { name: /Run/ })).toHaveCount(0);
  await page.goto(`${state.url}/computers/${state.agents.b1}`);
  await expect(page.getByRole('alert')).toHaveText('No such computer in this tenant.');
  await expect(page.getByText('b-secret-host')).toHaveCount(0);
});

test.describe('axe and screenshots of the computer page', () => {
  test.use({ bypassCSP: true });
  for (const lang of ['en', 'ja'] as const) {
    test(`computer page (${lang})`, async ({ page }) => {
      await signIn(page, state.users.admin, 'en');
      await page.getByLabel(/^(Language|言語)$/).selectOption(lang);
      await page.goto(`${state.url}/computers/${state.agents.web1}`);
      await expect(page.getByTestId('modules')).toBeVisible();
      expect(await axeViolations(page)).toEqual([]);
      await shoot(page, `computer-${lang}`);
      await page.getByLabel(/^(Language|言語)$/).selectOption('en');
    });
  }
});
