import { describe, expect, it } from 'vitest';
import { eventSubject, field, formatTime, severityOf, topValues } from '../src/format';

const ev = {
  '@timestamp': '2026-11-25T21:03:14.476Z',
  event: { module: 'integrity', action: 'modified', severity: 2 },
  file: { path: '/var/www/<img src=x onerror=alert(1)>.html' },
  agent: { id: 'a1', name: 'web-01' },
};

describe('format', () => {
  it('reads nested fields', () => {
    expect(field(ev, 'event.module')).toBe('integrity');
    expect(field(ev, 'file.path')).toBe('/var/www/<img src=x onerror=alert(1)>.html');
    expect(field(ev, 'rule.id')).toBeUndefined();
    expect(field(null, 'x')).toBeUndefined();
  });

  it('picks the subject: path, then URL, then rule', () => {
    expect(eventSubject(ev)).toBe('/var/www/<img src=x onerror=alert(1)>.html');
    expect(eventSubject({ url: { original: '/?q=<script>' } })).toBe('/?q=<script>');
    expect(eventSubject({ rule: { name: 'SQLi' } })).toBe('SQLi');
  });

  it('accepts only severities 0..4', () => {
    expect(severityOf(ev)).toBe(2);
    expect(severityOf({ event: { severity: 7 } })).toBeUndefined();
    expect(severityOf({ event: { severity: '3' } })).toBeUndefined();
  });

  it('formats times in the given zone and language', () => {
    expect(formatTime('2026-11-25T21:03:14Z', 'en', 'UTC')).toBe('25/11/2026, 21:03:14');
    expect(formatTime('2026-11-25T21:03:14Z', 'ja', 'Asia/Tokyo')).toBe('2026/11/26 06:03:14');
    expect(formatTime(null, 'en')).toBe('—');
  });

  it('counts top values', () => {
    const list = [ev, ev, { file: { path: '/b' } }];
    expect(topValues(list, 'file.path', 5)).toEqual([
      ['/var/www/<img src=x onerror=alert(1)>.html', 2],
      ['/b', 1],
    ]);
  });
});
