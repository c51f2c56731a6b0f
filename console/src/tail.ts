// Live tail of the Events page and the export links: pure functions over the filter and the rows,
// unit-tested in tests/tail.test.ts.
//
// The tail polls GET /events for what is newer than the newest row shown: from that row's time,
// oldest first, continuing through next_cursor when more than a page arrived, so a burst is read
// completely (in order) rather than skipping to its newest page. Rows are keyed by event.id: one
// already shown is never shown twice (events of the same second come back in every poll).
import { filterToSearch, withoutCursor, type EventFilter } from './filters';
import { fieldText } from './format';

export interface TailState {
  newest?: string; // @timestamp of the newest row shown (RFC 3339)
  cursor?: string; // next_cursor of a poll that returned a full page
}

// The /events query of the next poll (without the leading '?').
export function tailQuery(f: EventFilter, s: TailState, limit: number): string {
  const p = new URLSearchParams(filterToSearch(withoutCursor(f)));
  let from = f.from;
  if (s.newest && (!from || Date.parse(s.newest) > Date.parse(from))) from = s.newest;
  if (from) p.set('from', from);
  p.set('order', 'asc');
  p.set('limit', String(limit));
  if (s.cursor) p.set('cursor', s.cursor);
  return p.toString();
}

// The tail runs only on a first page without an end time: a later page or a closed range has
// nothing new to show.
export function canTail(f: EventFilter): boolean {
  return !f.cursor && !f.to;
}

// Merges a poll's items (oldest first) into the rows (newest first): unseen ones go on top, the
// list keeps at most `cap` rows. Returns the new rows, the ids added and the next tail state.
export function mergeTail(
  rows: unknown[],
  polled: unknown[],
  nextCursor: string | null,
  state: TailState,
  cap: number,
): { rows: unknown[]; added: string[]; state: TailState } {
  const seen = new Set(rows.map((r) => fieldText(r, 'event.id')));
  const fresh: unknown[] = [];
  const added: string[] = [];
  for (const ev of polled) {
    const id = fieldText(ev, 'event.id');
    if (seen.has(id)) continue;
    seen.add(id);
    fresh.push(ev);
    added.push(id);
  }
  let newest = state.newest;
  for (const ev of polled) {
    const ts = fieldText(ev, '@timestamp');
    if (ts && (!newest || Date.parse(ts) > Date.parse(newest))) newest = ts;
  }
  return {
    rows: [...fresh.reverse(), ...rows].slice(0, cap),
    added,
    state: { newest, cursor: nextCursor ?? undefined },
  };
}

// The tail state that matches rows already shown (newest first).
export function tailStart(rows: unknown[]): TailState {
  let newest: string | undefined;
  for (const ev of rows) {
    const ts = fieldText(ev, '@timestamp');
    if (ts && (!newest || Date.parse(ts) > Date.parse(newest))) newest = ts;
  }
  return { newest };
}

// GET /api/v1/events/export for the filter (every page of it: no cursor), newest first as the
// page shows them.
export function exportHref(f: EventFilter, format: 'csv' | 'ndjson'): string {
  const p = new URLSearchParams(filterToSearch(withoutCursor(f)));
  p.set('order', 'desc');
  p.set('format', format);
  return `/api/v1/events/export?${p.toString()}`;
}
