// Events: one table for every module, filtered by the server (GET /events) with the filter in the
// URL, cursor paging, and a drawer with the whole event. Every value is shown as text.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api';
import {
  filterFromSearch,
  filterToApiQuery,
  filterToSearch,
  isoToLocalInput,
  localInputToIso,
  withoutCursor,
  type EventFilter,
} from '../filters';
import { eventSubject, fieldText, formatTime, severityOf } from '../format';
import { lang, t, type Key } from '../i18n';
import { navigate, route } from '../router';

const MODULES = ['integrity', 'antimalware', 'ips', 'autoheal', 'ward', 'manager'];
const PAGE = 50;

export function Events() {
  const filter = filterFromSearch(route.value.search);
  const [draft, setDraft] = useState<EventFilter>(filter);
  const [items, setItems] = useState<unknown[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState('');
  const [open, setOpen] = useState<unknown | null>(null);
  const key = route.value.search;
  useEffect(() => {
    setDraft(filterFromSearch(key));
    setItems(null);
    setError('');
    api<{ items: unknown[]; next_cursor: string | null }>('GET', `/events?${filterToApiQuery(filterFromSearch(key), PAGE)}`)
      .then((r) => {
        setItems(r.items);
        setNext(r.next_cursor);
      })
      .catch((e) => setError(String(e.message)));
  }, [key]);
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
          <button type="button" onClick={() => navigate('/events')}>
            {t('events.clear')}
          </button>
        </div>
      </form>
      {error && <p role="alert" class="error">{t('common.error', { message: error })}</p>}
      {items === null && !error && <p>{t('common.loading')}</p>}
      {items !== null && items.length === 0 && <p class="muted">{t('events.none')}</p>}
      {items !== null && items.length > 0 && (
        <table data-testid="events">
          <thead>
            <tr>
              <th scope="col">{t('events.time')}</th>
              <th scope="col">{t('events.host')}</th>
              <th scope="col">{t('events.module')}</th>
              <th scope="col">{t('events.action')}</th>
              <th scope="col">{t('events.severity')}</th>
              <th scope="col">{t('events.subject')}</th>
            </tr>
          </thead>
          <tbody>
            {items.map((ev) => {
              const sev = severityOf(ev);
              return (
                <tr>
                  <td>
                    <button type="button" class="link" onClick={() => setOpen(ev)}>
                      {formatTime(fieldText(ev, '@timestamp'), lang.value)}
                    </button>
                  </td>
                  <td>{fieldText(ev, 'agent.name') || fieldText(ev, 'host.name')}</td>
                  <td>{fieldText(ev, 'event.module')}</td>
                  <td>{fieldText(ev, 'event.action')}</td>
                  <td>{sev === undefined ? '' : <span class={`sev sev${sev}`}>{t(`severity.${sev}` as Key)}</span>}</td>
                  <td class="subject">{eventSubject(ev)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
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
  useEffect(() => {
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
      <pre data-testid="event-json">{JSON.stringify(props.ev, null, 2)}</pre>
    </aside>
  );
}
