// c1: the user's time zone reaches every formatTime() without a zone; the audit filters become
// GET /audit's query string.
import { afterEach, describe, expect, it } from 'vitest';
import { formatTime, timeZones, userTimeZone } from '../src/format';
import { auditQuery } from '../src/pages/audit';

afterEach(() => {
  userTimeZone.value = '';
});

describe('user time zone', () => {
  it('formats in the user zone unless a zone is given', () => {
    const iso = '2026-12-07T00:30:00Z';
    userTimeZone.value = 'Asia/Tokyo';
    expect(formatTime(iso, 'en')).toBe('07/12/2026, 09:30:00');
    userTimeZone.value = 'America/New_York';
    expect(formatTime(iso, 'en')).toBe('06/12/2026, 19:30:00');
    expect(formatTime(iso, 'ja')).toBe('2026/12/06 19:30:00');
    expect(formatTime(iso, 'en', 'UTC')).toBe('07/12/2026, 00:30:00');
  });
  it('offers UTC and the IANA names', () => {
    const zones = timeZones();
    expect(zones).toContain('UTC');
    expect(zones).toContain('Asia/Tokyo');
  });
});

describe('audit filters', () => {
  const none = { actor: '', method: '', path: '', status: '', from: '', to: '' };
  it('leaves out empty filters and always asks newest first', () => {
    expect(auditQuery(none)).toBe('order=desc&limit=50');
  });
  it('sends every filter and the cursor, escaped', () => {
    const q = new URLSearchParams(auditQuery({ actor: ' user:0193 ', method: 'POST', path: '/api/v1/users?x=&y', status: 'failed', from: '', to: '' }, 'abc'));
    expect(q.get('actor')).toBe('user:0193');
    expect(q.get('method')).toBe('POST');
    expect(q.get('path')).toBe('/api/v1/users?x=&y');
    expect(q.get('status')).toBe('failed');
    expect(q.get('cursor')).toBe('abc');
    expect(q.has('from')).toBe(false);
  });
  it('turns local date-times into RFC 3339 instants', () => {
    const q = new URLSearchParams(auditQuery({ ...none, from: '2026-12-01T08:00', to: '2026-12-02T08:00' }));
    expect(q.get('from')).toBe(new Date('2026-12-01T08:00').toISOString());
    expect(q.get('to')).toMatch(/^2026-12-0[12]T\d\d:00:00\.000Z$/);
  });
});
