// A tab whose session ended (issue 14, s9): the Events page's live tail polls the API every few
// seconds; once the session is gone (signed out elsewhere, or expired: the server answers 401 to
// the cookie this browser still holds), the tab shows the sign-in page and makes no further API
// request, however long it stays open. The page's timers run on Playwright's fake clock, so ten
// minutes of an idle tab take no real time. (The server side, that such 401s do not count toward
// the per-address failed-authentication throttle, is tested in gtest: manager_console_test.)
import { expect, test } from '@playwright/test';
import { guard, signIn } from './helpers';
import { call, readState } from './manager';

const state = readState();

test('a tab whose session ended stops polling and shows the sign-in page', async ({ page, context }) => {
  const problems = guard(page);
  await page.clock.install();
  await signIn(page, state.users.admin);
  // This browser's session, as a request from outside the page would present it.
  const cookie = (await context.cookies()).find((c) => c.name === '__Host-ward_session');
  expect(cookie).toBeDefined();
  const headers = { Cookie: `${cookie!.name}=${cookie!.value}` };
  const session = await call(state.url, 'GET', '/api/v1/session', { headers });
  expect(session.status).toBe(200);
  const csrf = { ...headers, 'X-Ward-CSRF': session.body.csrf_token };
  // In English (other specs may have left the admin user in Japanese).
  expect((await call(state.url, 'PATCH', '/api/v1/session', { headers: csrf, body: { language: 'en' } })).status).toBe(200);
  const firstPage = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/events' && r.status() === 200);
  await page.goto(`${state.url}/events`);
  await firstPage;
  await expect(page.getByRole('heading', { name: 'Events', exact: true, level: 1 })).toBeVisible();

  // Every API request the page makes from here on, in order.
  const calls: string[] = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/api/')) calls.push(`${r.method()} ${u.pathname}${u.search}`);
  });
  // The page's time stops; the live tail polls when the clock is moved past its interval.
  await page.clock.pauseAt(Date.now() + 1000);
  const polled = page.waitForResponse((r) => r.url().includes('after_seq=') && r.status() === 200);
  await page.clock.runFor(5000);
  await polled;

  // The session ends on the server while this browser keeps its cookie (as when it expires, or
  // the user signs out in another browser): sign out with the same cookie from outside the page.
  const out = await call(state.url, 'DELETE', '/api/v1/session', { headers: csrf });
  expect(out.status).toBe(204);

  // The next poll is answered 401: the tab shows the sign-in page and says why.
  const refused = page.waitForResponse((r) => r.url().includes('after_seq=') && r.status() === 401);
  await page.clock.runFor(5000);
  await refused;
  await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
  await expect(page.getByTestId('session-ended')).toHaveText('Your session ended. Sign in again to continue.');
  const atEnd = calls.length;

  // Ten minutes of an idle tab, a minute at a time: after each, a request of the page's own marks
  // the point up to which every request the page had made was seen; none is an API call but it.
  for (let minute = 0; minute < 10; ++minute) {
    await page.clock.runFor(60_000);
    const marker = page.waitForResponse((r) => r.url().endsWith('/api/v1/openapi.json?marker'));
    await page.evaluate(() => fetch('/api/v1/openapi.json?marker').then((r) => r.status));
    await marker;
  }
  expect(calls.slice(atEnd)).toEqual(Array(10).fill('GET /api/v1/openapi.json?marker'));

  // Signing in again brings the same page back, and its tail polls again (with the page's time
  // flowing again: the page's effects run on its timers too).
  await page.clock.resume();
  const again = page.waitForResponse((r) => r.url().includes('after_seq=') && r.status() === 200);
  await page.getByLabel('User name').fill(state.users.admin.username);
  await page.getByLabel('Password').fill(state.users.admin.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.getByTestId('who')).toHaveText(state.users.admin.username);
  await expect(page.getByRole('heading', { name: 'Events', exact: true, level: 1 })).toBeVisible();
  await expect(page.getByTestId('session-ended')).toHaveCount(0);
  await again;
  expect(problems).toEqual([]);
});
