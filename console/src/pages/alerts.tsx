// Alerts triage (docs/alerts.md): severe events grouped per (rule, host), newest first
// (GET /alerts, filters in the URL); select some and acknowledge, resolve or reopen them with a
// reason in one request (PATCH /alerts: all or none). Who, when and why are shown per alert.
import { useState } from 'preact/hooks';
import { api, canWrite } from '../api';
import { SeverityBadge } from '../components/events';
import { ListTable, Notes, Pager, ReadOnlyNote, useLoad, usePage } from '../components/scaffold';
import { filterToSearch } from '../filters';
import { formatTime } from '../format';
import { lang, t, type Key } from '../i18n';
import { Link, navigate, route } from '../router';
import type { Agent } from './types';
import { AlertTabs } from './alert_rules';

type State = 'open' | 'acknowledged' | 'resolved';
interface StateInfo {
  by: string | null;
  by_name?: string | null; // the user's (or API key's) name; null once deleted: `by` is shown
  at: string;
  reason: string | null;
}
export interface Alert {
  id: string;
  source: string;
  rule_key: string;
  agent_id: string;
  module: string;
  title: string;
  severity: number;
  state: State;
  count: number;
  first_seen: string;
  last_seen: string;
  acknowledged: StateInfo | null;
  resolved: StateInfo | null;
}

const STATES: State[] = ['open', 'acknowledged', 'resolved'];

export function Alerts() {
  const params = new URLSearchParams(route.value.search);
  const stateParam = params.get('state') ?? 'open';
  const state = stateParam === 'all' || STATES.includes(stateParam as State) ? stateParam : 'open';
  const page = usePage();
  const [alerts, setAlerts] = useState<Alert[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [hosts, setHosts] = useState<Map<string, string>>(new Map());
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [reason, setReason] = useState('');
  const q = new URLSearchParams({ limit: '100' });
  if (state !== 'all') q.set('state', state);
  if (cursor) q.set('cursor', cursor);
  useLoad(
    () => Promise.all([api<{ items: Alert[]; next_cursor: string | null }>('GET', `/alerts?${q.toString()}`), api<{ items: Agent[] }>('GET', '/agents')]),
    ([a, ag]) => {
      setAlerts(a.items);
      setNext(a.next_cursor);
      setHosts(new Map(ag.items.map((x) => [x.id, x.hostname])));
      setSelected(new Set());
    },
    (e) => page.setError(String(e.message)),
    [state, cursor, page.reload],
  );
  const setState = (s: string) => {
    setCursor(null);
    navigate(`/alerts?state=${encodeURIComponent(s)}`, true);
  };
  const act = (to: State) =>
    page.run(async () => {
      const r = await api<{ items: Alert[] }>('PATCH', '/alerts', { ids: [...selected], state: to, reason: reason || null });
      page.setNotice(t('alerts.changed', { n: r.items.length, state: t(`alerts.state.${to}` as Key) }));
      setReason('');
    });
  const writable = canWrite();
  const rows = alerts ?? [];
  const allSelected = rows.length > 0 && rows.every((a) => selected.has(a.id));
  const toggle = (id: string) => {
    const s = new Set(selected);
    if (s.has(id)) s.delete(id);
    else s.add(id);
    setSelected(s);
  };
  const who = (i: StateInfo | null) =>
    i ? `${i.by_name ?? i.by ?? ''} · ${formatTime(i.at, lang.value)}${i.reason ? ` · ${i.reason}` : ''}` : '';
  return (
    <section>
      <AlertTabs current="alerts" />
      <h1>{t('alerts.title')}</h1>
      <div class="toolbar">
        <label>
          {t('alerts.state')}{' '}
          <select data-testid="alert-state" value={state} onChange={(e) => setState((e.target as HTMLSelectElement).value)}>
            {STATES.map((s) => (
              <option value={s}>{t(`alerts.state.${s}` as Key)}</option>
            ))}
            <option value="all">{t('alerts.state.all')}</option>
          </select>
        </label>
      </div>
      <ReadOnlyNote />
      {writable && (
        <form
          class="alerts-actions"
          onSubmit={(e) => {
            e.preventDefault();
          }}
        >
          <label>
            {t('alerts.reason')}{' '}
            <input name="reason" maxLength={1024} value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
          </label>
          <button type="button" disabled={selected.size === 0} onClick={() => void act('acknowledged')}>
            {t('alerts.acknowledge')}
          </button>
          <button type="button" disabled={selected.size === 0} onClick={() => void act('resolved')}>
            {t('alerts.resolve')}
          </button>
          <button type="button" disabled={selected.size === 0} onClick={() => void act('open')}>
            {t('alerts.reopen')}
          </button>
          <span class="muted" data-testid="alert-selected">
            {t('alerts.selected', { n: selected.size })}
          </span>
        </form>
      )}
      <Notes error={page.error} notice={page.notice} id="alert-notice" />
      <ListTable
        items={alerts}
        id="alerts"
        empty={t('alerts.none')}
        emptyId="alerts-empty"
        cols={[
          writable && <input type="checkbox" aria-label={t('alerts.select_all')} checked={allSelected} onChange={() => setSelected(allSelected ? new Set() : new Set(rows.map((a) => a.id)))} />,
          t('alerts.severity'),
          t('alerts.alert'),
          t('alerts.host'),
          t('alerts.count'),
          t('alerts.last_seen'),
          t('alerts.state'),
        ]}
        row={(a) => {
          const host = hosts.get(a.agent_id) ?? a.agent_id;
          const events = `/events${filterToSearch({ agent: a.agent_id, module: a.module, from: a.first_seen })}`;
          return (
            <tr data-alert={a.id}>
              {writable && (
                <td>
                  <input type="checkbox" aria-label={t('alerts.select', { title: a.title })} checked={selected.has(a.id)} onChange={() => toggle(a.id)} />
                </td>
              )}
              <td>
                <SeverityBadge level={a.severity} />
              </td>
              <td class="subject">
                <div>{a.title}</div>
                <div class="muted small">{a.rule_key}</div>
                <Link href={`/alerts/${encodeURIComponent(a.id)}/deliveries`} class="small">
                  {t('alerts.deliveries')}
                </Link>
              </td>
              <td>
                <Link href={events}>{host}</Link>
              </td>
              <td>{a.count}</td>
              <td>
                {formatTime(a.last_seen, lang.value)}
                <div class="muted small">{t('alerts.since', { t: formatTime(a.first_seen, lang.value) })}</div>
              </td>
              <td>
                <div>{t(`alerts.state.${a.state}` as Key)}</div>
                {a.acknowledged && <div class="muted small">{t('alerts.acked_by', { who: who(a.acknowledged) })}</div>}
                {a.resolved && <div class="muted small">{t('alerts.resolved_by', { who: who(a.resolved) })}</div>}
              </td>
            </tr>
          );
        }}
      />
      <Pager cursor={cursor} next={next} go={setCursor} />
    </section>
  );
}
