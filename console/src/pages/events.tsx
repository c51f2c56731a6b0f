// Events: one table for every module, filtered by the server (GET /events) with the filter in the
// URL, cursor paging, and a drawer with the whole event. Every value is shown as text. A live
// tail (src/tail.ts) polls for events stored since (the ingest sequence, so late ones too) every
// few seconds while the first page is shown and
// the user is not scrolled down, editing the filter or reading an event; the export links stream
// the whole filter as CSV or NDJSON.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api, isSessionEnd, me } from '../api';
import { EventCells, eventCols } from '../components/events';
import {
  filterFromSearch,
  filterToApiQuery,
  filterToSearch,
  isoToLocalInput,
  localInputToIso,
  withoutCursor,
  type EventFilter,
} from '../filters';
import { fieldText, formatTime } from '../format';
import { lang, t, type Key } from '../i18n';
import { navigate, route } from '../router';
import { canTail, exportHref, mergeTail, tailQuery, tailStart, type TailState } from '../tail';
import { AllowFromEvent } from '../components/egress';
import { LinkButton, ListTable } from '../components/scaffold';

const MODULES = ['integrity', 'antimalware', 'ips', 'autoheal', 'ward', 'manager'];
const PAGE = 50;
const TAIL_MS = 4000;
const TAIL_PAGE = 200;
const TAIL_CAP = 500;

export function Events() {
  const filter = filterFromSearch(route.value.search);
  const [draft, setDraft] = useState<EventFilter>(filter);
  const [items, setItems] = useState<unknown[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState('');
  const [open, setOpen] = useState<unknown | null>(null);
  const key = route.value.search;
  const tail = useRef<TailState>({});
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [tailOff, setTailOff] = useState(false);
  const [scrolled, setScrolled] = useState(false);
  useEffect(() => {
    setDraft(filterFromSearch(key));
    setItems(null);
    setFresh(new Set());
    setError('');
    api<{ items: unknown[]; next_cursor: string | null; latest_seq?: number }>('GET', `/events?${filterToApiQuery(filterFromSearch(key), PAGE)}`)
      .then((r) => {
        tail.current = tailStart(r.latest_seq);
        setItems(r.items);
        setNext(r.next_cursor);
      })
      .catch((e) => setError(String(e.message)));
  }, [key]);
  useEffect(() => {
    const onScroll = () => setScrolled(scrollY > 40);
    addEventListener('scroll', onScroll, { passive: true });
    return () => removeEventListener('scroll', onScroll);
  }, []);
  const editing = filterToSearch(withoutCursor(draft)) !== filterToSearch(withoutCursor(filter));
  const tailable = canTail(filter) && items !== null;
  const paused = tailOff || scrolled || editing || open !== null;
  useEffect(() => {
    if (!tailable || paused) return;
    let stop = false;
    let timer = 0;
    const poll = () => {
      if (stop || !me.value) return;
      if (document.visibilityState === 'hidden') {
        timer = window.setTimeout(poll, TAIL_MS);
        return;
      }
      const asked = key;
      api<{ items: unknown[]; next_seq?: number }>('GET', `/events?${tailQuery(filterFromSearch(key), tail.current, TAIL_PAGE)}`)
        .then((r) => {
          if (stop || asked !== route.value.search) return;
          const state = tail.current;
          setItems((rows) => {
            const m = mergeTail(rows ?? [], r.items, r.next_seq, TAIL_PAGE, state, TAIL_CAP);
            tail.current = m.state;
            if (m.added.length) setFresh((f) => new Set([...f, ...m.added]));
            return m.rows;
          });
          timer = window.setTimeout(poll, r.items.length >= TAIL_PAGE ? 0 : TAIL_MS);
        })
        .catch((e) => {
          // A 401: the session ended (the shell shows the sign-in page); never poll with it again.
          if (!stop && !isSessionEnd(e)) timer = window.setTimeout(poll, TAIL_MS * 2);
        });
    };
    timer = window.setTimeout(poll, TAIL_MS);
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [key, tailable, paused]);
  const upd = (k: keyof EventFilter, v: string | number | undefined) => setDraft({ ...draft, [k]: v === '' ? undefined : v });
  return (
    <section>
      <h1>{t('events.title')}</h1>
      <form
        class="filters"
        aria-label={t('events.title')}
        onSubmit={(e) => {
          e.preventDefault();
          navigate(`/events${filterToSearch(withoutCursor(draft))}`);
        }}
      >
        <label>
          {t('events.from')}
          <input type="datetime-local" name="from" value={isoToLocalInput(draft.from)} onInput={(e) => upd('from', localInputToIso((e.target as HTMLInputElement).value))} />
        </label>
        <label>
          {t('events.to')}
          <input type="datetime-local" name="to" value={isoToLocalInput(draft.to)} onInput={(e) => upd('to', localInputToIso((e.target as HTMLInputElement).value))} />
        </label>
        <label>
          {t('events.module')}
          <select name="module" value={draft.module ?? ''} onChange={(e) => upd('module', (e.target as HTMLSelectElement).value)}>
            <option value="">{t('events.any')}</option>
            {MODULES.map((m) => (
              <option value={m}>{m}</option>
            ))}
          </select>
        </label>
        <label>
          {t('events.min_severity')}
          <select
            name="min_severity"
            value={draft.min_severity === undefined ? '' : String(draft.min_severity)}
            onChange={(e) => {
              const v = (e.target as HTMLSelectElement).value;
              upd('min_severity', v === '' ? undefined : Number(v));
            }}
          >
            <option value="">{t('events.any')}</option>
            {[0, 1, 2, 3, 4].map((s) => (
              <option value={String(s)}>{t(`severity.${s}` as Key)}</option>
            ))}
          </select>
        </label>
        <label>
          {t('events.action')}
          <input name="action" value={draft.action ?? ''} onInput={(e) => upd('action', (e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t('events.agent')}
          <input name="agent" value={draft.agent ?? ''} onInput={(e) => upd('agent', (e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t('events.text')}
          <input name="q" type="search" value={draft.q ?? ''} onInput={(e) => upd('q', (e.target as HTMLInputElement).value)} />
        </label>
        <div class="buttons">
          <button type="submit">{t('events.apply')}</button>
          <button
            type="button"
            onClick={() => {
              setDraft({});
              navigate('/events');
            }}
          >
            {t('events.clear')}
          </button>
        </div>
      </form>
      <div class="toolbar tail">
        {tailable && (
          <>
            <span role="status" data-testid="tail-status" class={paused ? 'badge warn' : 'badge ok'}>
              {!paused ? t('events.tail.live') : tailOff ? t('events.tail.off') : t('events.tail.paused')}
            </span>{' '}
            <button type="button" aria-pressed={!tailOff} onClick={() => setTailOff(!tailOff)}>
              {tailOff ? t('events.tail.resume') : t('events.tail.pause')}
            </button>
          </>
        )}
        <span class="spacer" />
        <a class="button" data-testid="export-csv" href={exportHref(filter, 'csv')} download="ward-events.csv">
          {t('events.export.csv')}
        </a>{' '}
        <a class="button" data-testid="export-ndjson" href={exportHref(filter, 'ndjson')} download="ward-events.ndjson">
          {t('events.export.ndjson')}
        </a>
      </div>
      {error && <p role="alert" class="error">{t('common.error', { message: error })}</p>}
      <ListTable
        items={items}
        loading={!error}
        id="events"
        empty={t('events.none')}
        cols={[t('events.time'), t('events.host'), ...eventCols()]}
        row={(ev) => {
          const id = fieldText(ev, 'event.id');
          return (
            <tr key={id} data-event-id={id} class={fresh.has(id) ? 'fresh' : undefined}>
              <td>
                <LinkButton onClick={() => setOpen(ev)}>{formatTime(fieldText(ev, '@timestamp'), lang.value)}</LinkButton>
              </td>
              <td>{fieldText(ev, 'agent.name') || fieldText(ev, 'host.name')}</td>
              <EventCells ev={ev} />
            </tr>
          );
        }}
      />
      <div class="pager">
        {filter.cursor && (
          <button type="button" onClick={() => navigate(`/events${filterToSearch(withoutCursor(filter))}`)}>
            {t('events.first')}
          </button>
        )}
        {next && (
          <button type="button" onClick={() => navigate(`/events${filterToSearch({ ...filter, cursor: next })}`)}>
            {t('events.more')}
          </button>
        )}
      </div>
      {open !== null && <Drawer ev={open} onClose={() => setOpen(null)} />}
    </section>
  );
}

function Drawer(props: { ev: unknown; onClose: () => void }) {
  const ref = useRef<HTMLButtonElement>(null);
  // A layout effect: Escape is listened for before the drawer is painted, so a key pressed as soon
  // as its content shows is never lost (a plain effect runs after paint).
  useLayoutEffect(() => {
    ref.current?.focus();
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && props.onClose();
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);
  return (
    <aside class="drawer" role="dialog" aria-modal="true" aria-labelledby="drawer-title">
      <div class="drawer-head">
        <h2 id="drawer-title">{t('events.detail')}</h2>
        <button type="button" ref={ref} onClick={props.onClose}>
          {t('common.close')}
        </button>
      </div>
      <AllowFromEvent ev={props.ev} />
      <pre data-testid="event-json">{JSON.stringify(props.ev, null, 2)}</pre>
    </aside>
  );
}
