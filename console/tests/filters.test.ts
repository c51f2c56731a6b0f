import { describe, expect, it } from 'vitest';
import { filterFromSearch, filterToApiQuery, filterToSearch, withoutCursor } from '../src/filters';

describe('event filter ↔ URL', () => {
  it('round-trips every field in a stable order', () => {
    const f = {
      from: '2026-11-25T00:00:00.000Z',
      to: '2026-11-26T00:00:00.000Z',
      module: 'integrity',
      min_severity: 3,
      action: 'modified',
      agent: '0193-abc',
      q: '/var/www/<img src=x>.html',
      cursor: 'abc',
    };
    const search = filterToSearch(f);
    expect(search.startsWith('?from=')).toBe(true);
    expect(filterFromSearch(search)).toEqual(f);
    expect(filterToSearch(filterFromSearch(search))).toBe(search);
  });

  it('drops unknown parameters and invalid values', () => {
    expect(filterFromSearch('?form=x&min_severity=9&from=yesterday&module=')).toEqual({});
    expect(filterFromSearch('?min_severity=4&q=%20%20')).toEqual({ min_severity: 4 });
    expect(filterFromSearch('?q=' + 'a'.repeat(257))).toEqual({});
  });

  it('makes an empty search for an empty filter', () => {
    expect(filterToSearch({})).toBe('');
  });

  it('sends the filter to the API with order and limit', () => {
    const q = new URLSearchParams(filterToApiQuery({ module: 'ips', min_severity: 2 }, 50));
    expect(q.get('module')).toBe('ips');
    expect(q.get('min_severity')).toBe('2');
    expect(q.get('order')).toBe('desc');
    expect(q.get('limit')).toBe('50');
    expect(q.has('cursor')).toBe(false);
  });

  it('a new filter starts from the first page', () => {
    expect(withoutCursor({ module: 'ips', cursor: 'x' })).toEqual({ module: 'ips' });
  });

  it('encodes hostile text so it stays one parameter', () => {
    const f = { q: 'a&module=ips#x?y' };
    expect(filterFromSearch(filterToSearch(f))).toEqual(f);
  });
});
