import { describe, expect, it } from 'vitest';
import { canTail, exportHref, mergeTail, tailQuery, tailStart } from '../src/tail';

const ev = (id: string, ts: string) => ({ '@timestamp': ts, event: { id } });

describe('live tail', () => {
  it('polls from the newest row shown, oldest first, within the filter', () => {
    const q = new URLSearchParams(tailQuery({ module: 'ips', from: '2026-01-01T00:00:00Z' }, { newest: '2026-01-02T00:00:00Z' }, 200));
    expect(q.get('from')).toBe('2026-01-02T00:00:00Z');
    expect(q.get('module')).toBe('ips');
    expect(q.get('order')).toBe('asc');
    expect(q.get('limit')).toBe('200');
    expect(q.has('cursor')).toBe(false);
  });
  it('keeps the filter start when it is later than the newest row, and follows a cursor', () => {
    const q = new URLSearchParams(tailQuery({ from: '2026-03-01T00:00:00Z', cursor: 'page2' }, { newest: '2026-01-02T00:00:00Z', cursor: 'c1' }, 50));
    expect(q.get('from')).toBe('2026-03-01T00:00:00Z');
    expect(q.get('cursor')).toBe('c1');
  });
  it('never shows a row twice and puts new rows on top, newest first', () => {
    const rows = [ev('b', '2026-01-01T00:00:02Z'), ev('a', '2026-01-01T00:00:01Z')];
    const polled = [ev('b', '2026-01-01T00:00:02Z'), ev('c', '2026-01-01T00:00:02Z'), ev('d', '2026-01-01T00:00:03Z')];
    const m = mergeTail(rows, polled, null, tailStart(rows), 100);
    expect(m.added).toEqual(['c', 'd']);
    expect(m.rows.map((r) => (r as { event: { id: string } }).event.id)).toEqual(['d', 'c', 'b', 'a']);
    expect(m.state).toEqual({ newest: '2026-01-01T00:00:03Z', cursor: undefined });
    const again = mergeTail(m.rows, polled, null, m.state, 100);
    expect(again.added).toEqual([]);
    expect(again.rows).toHaveLength(4);
  });
  it('caps the rows and carries the cursor of a full page', () => {
    const polled = Array.from({ length: 5 }, (_, i) => ev(`e${i}`, `2026-01-01T00:00:0${i}Z`));
    const m = mergeTail([], polled, 'next', {}, 3);
    expect(m.rows).toHaveLength(3);
    expect(m.state.cursor).toBe('next');
  });
  it('runs only on a first page without an end', () => {
    expect(canTail({})).toBe(true);
    expect(canTail({ cursor: 'x' })).toBe(false);
    expect(canTail({ to: '2026-01-01T00:00:00Z' })).toBe(false);
  });
});

describe('export links', () => {
  it('export the whole filter, newest first, without the page cursor', () => {
    const href = exportHref({ module: 'ips', q: 'a&b', cursor: 'x' }, 'csv');
    expect(href.startsWith('/api/v1/events/export?')).toBe(true);
    const q = new URLSearchParams(href.split('?')[1]);
    expect(q.get('module')).toBe('ips');
    expect(q.get('q')).toBe('a&b');
    expect(q.get('format')).toBe('csv');
    expect(q.get('order')).toBe('desc');
    expect(q.has('cursor')).toBe(false);
  });
});
