import { describe, expect, it } from 'vitest';
import { canTail, exportHref, mergeTail, tailQuery, tailStart } from '../src/tail';

const ev = (id: string, ts: string) => ({ '@timestamp': ts, event: { id } });

describe('live tail', () => {
  it('polls for what was stored after the sequence number read, within the filter', () => {
    const q = new URLSearchParams(tailQuery({ module: 'ips', from: '2026-01-01T00:00:00Z', cursor: 'page2' }, { seq: 42 }, 200));
    expect(q.get('after_seq')).toBe('42');
    expect(q.get('module')).toBe('ips');
    expect(q.get('from')).toBe('2026-01-01T00:00:00Z');
    expect(q.get('limit')).toBe('200');
    expect(q.has('cursor')).toBe(false);
    expect(q.has('order')).toBe(false);
    expect(new URLSearchParams(tailQuery({}, tailStart(undefined), 10)).get('after_seq')).toBe('0');
  });
  it('never shows a row twice and puts new rows on top, the last to arrive first, whatever their time', () => {
    const rows = [ev('b', '2026-01-01T00:00:02Z'), ev('a', '2026-01-01T00:00:01Z')];
    // 'c' arrived late with an older @timestamp than every row shown: it is shown all the same.
    const polled = [ev('b', '2026-01-01T00:00:02Z'), ev('c', '2025-12-31T23:00:00Z'), ev('d', '2026-01-01T00:00:03Z')];
    const m = mergeTail(rows, polled, 17, 100, tailStart(10), 100);
    expect(m.added).toEqual(['c', 'd']);
    expect(m.rows.map((r) => (r as { event: { id: string } }).event.id)).toEqual(['d', 'c', 'b', 'a']);
    expect(m.state).toEqual({ seq: 17, more: false });
    const again = mergeTail(m.rows, polled, 17, 100, m.state, 100);
    expect(again.added).toEqual([]);
    expect(again.rows).toHaveLength(4);
  });
  it('caps the rows, says when a full page asks for another poll, keeps the seq of an empty poll', () => {
    const polled = Array.from({ length: 5 }, (_, i) => ev(`e${i}`, `2026-01-01T00:00:0${i}Z`));
    const m = mergeTail([], polled, 9, 5, { seq: 4 }, 3);
    expect(m.rows).toHaveLength(3);
    expect(m.state).toEqual({ seq: 9, more: true });
    expect(mergeTail([], [], undefined, 5, { seq: 9 }, 3).state).toEqual({ seq: 9, more: false });
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
