// Computers: every agent of the tenant (GET /agents) with status, heartbeat, version, policy;
// search, status filter and sort in the URL; bulk policy assignment (PATCH /agents/{id}).
import { useState } from 'preact/hooks';
import { api, canWrite } from '../api';
import { filterToSearch } from '../filters';
import { formatTime } from '../format';
import { lang, t } from '../i18n';
import { Link, navigate, route } from '../router';
import { moduleStates, type Agent, type Policy } from './types';
import { LinkButton, Notes, useLoad, usePage } from '../components/scaffold';

type SortKey = 'hostname' | 'status' | 'version' | 'last_seen';

export function Computers() {
  const params = new URLSearchParams(route.value.search);
  const search = params.get('search') ?? '';
  const status = params.get('status') ?? '';
  const sort = (['hostname', 'status', 'version', 'last_seen'].includes(params.get('sort') ?? '') ? params.get('sort') : 'hostname') as SortKey;
  const [agents, setAgents] = useState<Agent[] | null>(null);
  const [policies, setPolicies] = useState<Policy[]>([]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [assign, setAssign] = useState('');
  const page = usePage();
  useLoad(
    () => Promise.all([api<{ items: Agent[] }>('GET', `/agents${status ? `?status=${status}` : ''}`), api<{ items: Policy[] }>('GET', '/policies')]),
    ([a, p]) => {
      setAgents(a.items);
      setPolicies(p.items);
    },
    page.fail,
    [status, page.reload],
  );
  const set = (k: string, v: string) => {
    const p = new URLSearchParams(route.value.search);
    if (v) p.set(k, v);
    else p.delete(k);
    const s = p.toString();
    navigate(`/computers${s ? `?${s}` : ''}`, true);
  };
  const policyName = new Map(policies.map((p) => [p.id, `${p.name} (v${p.version})`]));
  const rows = (agents ?? [])
    .filter((a) => !search || a.hostname.toLowerCase().includes(search.toLowerCase()))
    .sort((a, b) => String(a[sort] ?? '').localeCompare(String(b[sort] ?? '')));
  return (
    <section>
      <h1>{t('computers.title')}</h1>
      <p>
        <Link href="/network/blocked-addresses">{t('blocked.link')}</Link>
      </p>
      <div class="toolbar">
        <label>
          {t('computers.search')} <input type="search" value={search} onInput={(e) => set('search', (e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t('computers.status')}{' '}
          <select value={status} onChange={(e) => set('status', (e.target as HTMLSelectElement).value)}>
            <option value="">{t('computers.all')}</option>
            <option value="online">{t('computers.online')}</option>
            <option value="offline">{t('computers.offline')}</option>
          </select>
        </label>
        {canWrite() && (
          <form
            class="inline"
            onSubmit={(e) => {
              e.preventDefault();
              void page.attempt(async () => {
                for (const id of selected) await api('PATCH', `/agents/${encodeURIComponent(id)}`, { policy_id: assign || null });
                setSelected(new Set());
                page.refresh();
              });
            }}
          >
            <label>
              {t('computers.policy')}{' '}
              <select value={assign} onChange={(e) => setAssign((e.target as HTMLSelectElement).value)}>
                <option value="">{t('common.none')}</option>
                {policies.map((p) => (
                  <option value={p.id}>{p.name}</option>
                ))}
              </select>
            </label>{' '}
            <button type="submit" disabled={selected.size === 0}>
              {t('common.save')} ({selected.size})
            </button>
          </form>
        )}
      </div>
      <Notes error={page.error} />
      {agents === null ? (
        <p>{t('common.loading')}</p>
      ) : rows.length === 0 ? (
        <p class="muted">{t('computers.none')}</p>
      ) : (
        <table data-testid="computers">
          <thead>
            <tr>
              {canWrite() && <th scope="col"><span class="sr-only">✓</span></th>}
              {(['hostname', 'status', 'version', 'last_seen'] as SortKey[]).map((k) => (
                <th scope="col" aria-sort={sort === k ? 'ascending' : undefined}>
                  <LinkButton onClick={() => set('sort', k)}>
                    {t(k === 'hostname' ? 'computers.hostname' : k === 'status' ? 'computers.status' : k === 'version' ? 'computers.version' : 'computers.last_seen')}
                  </LinkButton>
                </th>
              ))}
              <th scope="col">{t('computers.policy')}</th>
              <th scope="col">{t('computers.policy_version')}</th>
              <th scope="col">{t('computers.modules')}</th>
              <th scope="col">{t('computers.events')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((a) => (
              <tr>
                {canWrite() && (
                  <td>
                    <input
                      type="checkbox"
                      aria-label={a.hostname}
                      checked={selected.has(a.id)}
                      onChange={(e) => {
                        const s = new Set(selected);
                        if ((e.target as HTMLInputElement).checked) s.add(a.id);
                        else s.delete(a.id);
                        setSelected(s);
                      }}
                    />
                  </td>
                )}
                <td>
                  <Link href={`/computers/${encodeURIComponent(a.id)}`}>{a.hostname}</Link>
                </td>
                <td>
                  <span class={`badge ${a.status === 'online' ? 'ok' : 'warn'}`}>{t(a.status === 'online' ? 'computers.online' : 'computers.offline')}</span>
                </td>
                <td>{a.version}</td>
                <td>{formatTime(a.last_seen, lang.value)}</td>
                <td>{a.policy_id ? policyName.get(a.policy_id) ?? a.policy_id : t('common.none')}</td>
                <td>{a.applied_policy_version}</td>
                <td>
                  {moduleStates(a.report).map((m) => (
                    <span class={`badge ${m.state === 'running' ? 'ok' : 'warn'}`}>
                      {m.name}: {m.state}
                    </span>
                  ))}
                </td>
                <td>
                  <Link href={`/events${filterToSearch({ agent: a.id })}`}>{t('computers.events')}</Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
