// One computer (/computers/<id>): host facts and status, each module's state and health as its
// last heartbeat reported them (GET /agents/{id}), its effective policy (GET /policies/{id}:
// document and version, applied or pending), its latest events (GET /events?agent=) with a link
// to the filtered Events page, and its commands (GET/POST /agents/{id}/commands) with "run now"
// buttons. While a command waits for the agent, the page polls its state and shows the result.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, canWrite, me } from '../api';
import { EventCells, eventCols } from '../components/events';
import { filterToSearch } from '../filters';
import { fieldText, formatTime } from '../format';
import { lang, t, type Key } from '../i18n';
import { Link, route } from '../router';
import type { Agent, Policy } from './types';
import { ListTable } from '../components/scaffold';

interface Command {
  id: string;
  name: string;
  args: unknown;
  state: 'queued' | 'delivered' | 'completed' | 'failed';
  result: unknown;
  created_at: string;
}

interface ModuleReport {
  name: string;
  state: string;
  health?: { state?: unknown; reasons?: unknown; counters?: unknown };
}

const POLL_MS = 3000;

function modulesOf(report: unknown): ModuleReport[] {
  const mods = (report as { modules?: unknown } | null)?.modules;
  if (!Array.isArray(mods)) return [];
  return mods
    .filter((m): m is Record<string, unknown> => m !== null && typeof m === 'object')
    .map((m) => ({ name: String(m.name ?? ''), state: String(m.state ?? ''), health: (m.health ?? undefined) as ModuleReport['health'] }))
    .filter((m) => m.name !== '');
}

function text(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function Computer() {
  const id = decodeURIComponent(route.value.path.slice('/computers/'.length));
  const [agent, setAgent] = useState<Agent | null>(null);
  const [policy, setPolicy] = useState<Policy | null>(null);
  const [events, setEvents] = useState<unknown[]>([]);
  const [commands, setCommands] = useState<Command[]>([]);
  const [error, setError] = useState('');
  const [missing, setMissing] = useState(false);
  const [busy, setBusy] = useState(false);
  const [reload, setReload] = useState(0);
  const enc = encodeURIComponent(id);

  useEffect(() => {
    setError('');
    Promise.all([
      api<Agent>('GET', `/agents/${enc}`),
      api<{ items: Command[] }>('GET', `/agents/${enc}/commands`),
      api<{ items: unknown[] }>('GET', `/events?agent=${enc}&order=desc&limit=10`),
    ])
      .then(async ([a, c, e]) => {
        setAgent(a);
        setCommands(c.items);
        setEvents(e.items);
        setPolicy(a.policy_id ? await api<Policy>('GET', `/policies/${encodeURIComponent(a.policy_id)}`) : null);
      })
      .catch((e) => {
        if (e instanceof ApiError && e.status === 404) setMissing(true);
        else setError(String(e.message));
      });
  }, [id, reload]);

  const pending = commands.some((c) => c.state === 'queued' || c.state === 'delivered');
  useEffect(() => {
    if (!pending || !me.value) return;
    const timer = window.setTimeout(() => setReload((r) => r + 1), POLL_MS);
    return () => clearTimeout(timer);
  }, [pending, commands]);

  const run = async (name: string) => {
    setBusy(true);
    setError('');
    try {
      await api('POST', `/agents/${enc}/commands`, { name });
      setReload((r) => r + 1);
    } catch (e) {
      setError(String((e as Error).message));
    } finally {
      setBusy(false);
    }
  };

  if (missing) {
    return (
      <section>
        <h1>{t('computer.title')}</h1>
        <p role="alert">{t('computer.not_found')}</p>
        <Link href="/computers">{t('computer.back')}</Link>
      </section>
    );
  }
  if (!agent) {
    return <section>{error ? <p role="alert" class="error">{t('common.error', { message: error })}</p> : <p>{t('common.loading')}</p>}</section>;
  }
  const report = (agent.report ?? {}) as Record<string, unknown>;
  const policyError = (report.policy_error as { version?: unknown; message?: unknown } | undefined) ?? undefined;
  const applied = policy !== null && agent.applied_policy_version === policy.version;
  const eventsHref = `/events${filterToSearch({ agent: agent.id })}`;
  return (
    <section>
      <p>
        <Link href="/computers">{t('computer.back')}</Link>
      </p>
      <div class="title-row">
        <h1 data-testid="computer-name">{agent.hostname}</h1>
        <span class={`badge ${agent.status === 'online' ? 'ok' : 'warn'}`}>{t(agent.status === 'online' ? 'computers.online' : 'computers.offline')}</span>
      </div>
      {error && <p role="alert" class="error">{t('common.error', { message: error })}</p>}
      <div class="grid2">
        <div class="card">
          <h2>{t('computer.facts')}</h2>
          <dl class="facts">
            <dt>{t('computers.hostname')}</dt>
            <dd>{agent.hostname}</dd>
            <dt>{t('computer.id')}</dt>
            <dd>{agent.id}</dd>
            <dt>{t('computer.machine_id')}</dt>
            <dd>{agent.machine_id}</dd>
            <dt>{t('computers.version')}</dt>
            <dd>{agent.version || '—'}</dd>
            <dt>{t('computers.last_seen')}</dt>
            <dd>{formatTime(agent.last_seen, lang.value)}</dd>
            <dt>{t('computer.activated')}</dt>
            <dd>{formatTime(agent.created_at, lang.value)}</dd>
            {report.spool !== undefined && (
              <>
                <dt>{t('computer.spool')}</dt>
                <dd>{text(report.spool)}</dd>
              </>
            )}
          </dl>
        </div>
        <div class="card">
          <h2>{t('computer.policy')}</h2>
          {policy === null ? (
            <p class="muted">{t('computer.no_policy')}</p>
          ) : (
            <>
              <p>
                <Link href="/policies">{policy.name}</Link> · {t('computer.policy_version', { v: policy.version })}{' '}
                <span data-testid="policy-state" class={`badge ${applied ? 'ok' : 'warn'}`}>
                  {applied ? t('computer.applied') : t('computer.pending', { v: agent.applied_policy_version })}
                </span>
              </p>
              {policyError && typeof policyError.message === 'string' && (
                <p class="error">{t('computer.policy_error', { message: policyError.message })}</p>
              )}
              <pre class="json" data-testid="policy-json">{JSON.stringify(policy.document, null, 2)}</pre>
            </>
          )}
        </div>
      </div>
      <div class="card">
        <h2>{t('computers.modules')}</h2>
        <ListTable
          items={modulesOf(agent.report)}
          id="modules"
          empty={t('computer.no_modules')}
          cols={[t('computer.module'), t('computer.state'), t('computer.health'), t('computer.counters')]}
          row={(m) => {
            const h = text(m.health?.state);
            const reasons = Array.isArray(m.health?.reasons) ? (m.health?.reasons as unknown[]).map(text) : [];
            return (
              <tr>
                <td>{m.name}</td>
                <td>
                  <span class={`badge ${m.state === 'running' ? 'ok' : 'warn'}`}>{m.state}</span>
                </td>
                <td>
                  {h && <span class={`badge ${h === 'ok' ? 'ok' : 'warn'}`}>{h}</span>}
                  {reasons.length > 0 && (
                    <ul class="plain">
                      {reasons.map((r) => (
                        <li>{r}</li>
                      ))}
                    </ul>
                  )}
                </td>
                <td class="subject">{m.health?.counters === undefined ? '' : text(m.health.counters)}</td>
              </tr>
            );
          }}
        />
      </div>
      <div class="card">
        <div class="title-row">
          <h2>{t('computer.commands')}</h2>
          {canWrite() && (
            <div class="buttons">
              <button type="button" disabled={busy} onClick={() => run('integrity.check')}>
                {t('computer.run_integrity')}
              </button>
              <button type="button" disabled={busy} onClick={() => run('antimalware.scan')}>
                {t('computer.run_scan')}
              </button>
            </div>
          )}
        </div>
        <ListTable
          items={[...commands].sort((a, b) => b.created_at.localeCompare(a.created_at))}
          id="commands"
          empty={t('computer.no_commands')}
          cols={[t('common.created'), t('computer.command'), t('computer.state'), t('computer.result')]}
          row={(c) => (
            <tr data-command={c.name}>
              <td>{formatTime(c.created_at, lang.value)}</td>
              <td>{c.name}</td>
              <td>
                <span class={`badge ${c.state === 'failed' ? 'warn' : c.state === 'completed' ? 'ok' : ''}`}>{t(`computer.cmd.${c.state}` as Key)}</span>
              </td>
              <td class="subject">{c.result === null || c.result === undefined ? '' : text(c.result)}</td>
            </tr>
          )}
        />
      </div>
      <div class="card">
        <div class="title-row">
          <h2>{t('computer.recent_events')}</h2>
          <Link href={eventsHref}>{t('computer.all_events')}</Link>
        </div>
        <ListTable
          items={events}
          id="computer-events"
          empty={t('events.none')}
          cols={[t('events.time'), ...eventCols()]}
          row={(ev) => (
            <tr>
              <td>{formatTime(fieldText(ev, '@timestamp'), lang.value)}</td>
              <EventCells ev={ev} />
            </tr>
          )}
        />
      </div>
    </section>
  );
}
