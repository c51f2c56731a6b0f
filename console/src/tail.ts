// Live tail of the Events page and the export links: pure functions over the filter and the rows,
// unit-tested in tests/tail.test.ts.
//
// The tail follows the manager's ingest sequence (docs/console.md, "Live tail"): the first page
// answers `latest_seq`, and each poll asks GET /events?after_seq=<last seen> for what was stored
// since, in arrival order, continuing at once when a poll returned a full page, so a burst is
// read completely and an event an agent delivers late (with an older @timestamp than the rows
// shown) appears too. Rows are keyed by event.id: one already shown is never shown twice (an
// event stored while the first page was read can be in both).
import { filterToSearch, withoutCursor, type EventFilter } from './filters';
import { fieldText } from './format';

export interface TailState {
  seq?: number; // the ingest sequence number read up to (latest_seq, then each poll's next_seq)
  more?: boolean; // the last poll returned a full page: poll again at once
}

// The /events query of the next poll (without the leading '?').
export function tailQuery(f: EventFilter, s: TailState, limit: number): string {
  const p = new URLSearchParams(filterToSearch(withoutCursor(f)));
  p.set('after_seq', String(s.seq ?? 0));
  p.set('limit', String(limit));
  return p.toString();
}

// The tail runs only on a first page without an end time: a later page or a closed range has
// nothing new to show.
export function canTail(f: EventFilter): boolean {
  return !f.cursor && !f.to;
}

// Merges a poll's items (in arrival order) into the rows (new ones on top): unseen ones go on
// top, the last to arrive first; the list keeps at most `cap` rows. Returns the new rows, the
// ids added and the next tail state.
export function mergeTail(
  rows: unknown[],
  polled: unknown[],
  nextSeq: number | undefined,
  limit: number,
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
  return {
    rows: [...fresh.reverse(), ...rows].slice(0, cap),
    added,
    state: { seq: nextSeq ?? state.seq, more: polled.length >= limit },
  };
}

// The tail state of a first page read with `latestSeq` (the answer's latest_seq).
export function tailStart(latestSeq: number | undefined): TailState {
  return { seq: latestSeq ?? 0 };
}

// GET /api/v1/events/export for the filter (every page of it: no cursor), newest first as the
// page shows them.
export function exportHref(f: EventFilter, format: 'csv' | 'ndjson'): string {
  const p = new URLSearchParams(filterToSearch(withoutCursor(f)));
  p.set('order', 'desc');
  p.set('format', format);
  return `/api/v1/events/export?${p.toString()}`;
}
