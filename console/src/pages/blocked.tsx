// Active response's blocked addresses (docs/firewall.md "Active response", issue #17): what each
// host's firewall blocks now (GET /blocked-addresses, derived from the hosts' events), and their
// removal — one address or every address of a host — queued as the agent's `firewall.unblock`
// command (DELETE /agents/{id}/blocked-addresses[/{address}]); the address leaves the list when the
// host's `address_unblocked` event arrives, so until then the row says the removal is queued.
import { useState } from 'preact/hooks';
import { api, canWrite } from '../api';
import { LinkButton, ListTable, Notes, ReadOnlyNote, useLoad, usePage } from '../components/scaffold';
import { formatTime } from '../format';
import { lang, t } from '../i18n';
import { Link, navigate, route } from '../router';
import type { Agent } from './types';

interface Block {
  agent_id: string;
  address: string;
  rule_id: string;
  mode: string;
  cause_module: string;
  blocked_at: string;
  expires_at: string;
  event_id: string;
}

export function BlockedAddresses() {
  const agent = new URLSearchParams(route.value.search).get('agent') ?? '';
  const [items, setItems] = useState<Block[] | null>(null);
  const [truncated, setTruncated] = useState(false);
  const [agents, setAgents] = useState<Agent[]>([]);
  const [queued, setQueued] = useState<Set<string>>(new Set());
  const page = usePage();
  const q = agent ? `?agent=${encodeURIComponent(agent)}` : '';
  useLoad(
    () => Promise.all([api<{ items: Block[]; truncated: boolean }>('GET', `/blocked-addresses${q}`), api<{ items: Agent[] }>('GET', '/agents')]),
    ([b, a]) => {
      setItems(b.items);
      setTruncated(b.truncated);
      setAgents(a.items);
    },
    page.fail,
    [agent, page.reload],
  );
  const writable = canWrite();
  const host = (id: string) => agents.find((a) => a.id === id)?.hostname ?? id;
  const key = (agentId: string, address: string) => `${agentId} ${address}`;
  const remove = (agentId: string, address?: string) =>
    page.attempt(async () => {
      const base = `/agents/${encodeURIComponent(agentId)}/blocked-addresses`;
      await api('DELETE', address ? `${base}/${encodeURIComponent(address)}` : base);
      const q = new Set(queued);
      for (const b of items ?? []) if (b.agent_id === agentId && (!address || b.address === address)) q.add(key(b.agent_id, b.address));
      setQueued(q);
      page.setNotice(address ? t('blocked.queued_one', { address, host: host(agentId) }) : t('blocked.queued_all', { host: host(agentId) }));
    });
  const rows = items ?? [];
  const hosts = [...new Set(rows.map((b) => b.agent_id))];
  return (
    <section>
      <p>
        <Link href="/computers">{t('blocked.back')}</Link>
      </p>
      <h1>{t('blocked.title')}</h1>
      <p class="muted small">{t('blocked.intro')}</p>
      <div class="toolbar">
        <label>
          {t('blocked.host')}{' '}
          <select
            data-testid="blocked-host"
            value={agent}
            onChange={(e) => {
              const v = (e.target as HTMLSelectElement).value;
              navigate(`/network/blocked-addresses${v ? `?agent=${encodeURIComponent(v)}` : ''}`, true);
            }}
          >
            <option value="">{t('blocked.all_hosts')}</option>
            {agents.map((a) => (
              <option value={a.id}>{a.hostname}</option>
            ))}
          </select>
        </label>
        <button type="button" onClick={page.refresh}>
          {t('deliveries.refresh')}
        </button>
        {writable &&
          hosts.map((h) => (
            <button type="button" data-testid="remove-all" onClick={() => void remove(h)}>
              {t('blocked.remove_all', { host: host(h) })}
            </button>
          ))}
      </div>
      <ReadOnlyNote />
      <Notes error={page.error} notice={page.notice} id="blocked-notice" />
      {truncated && <p class="error small">{t('blocked.truncated')}</p>}
      <ListTable
        items={items}
        id="blocked"
        empty={t('blocked.none')}
        emptyId="blocked-empty"
        cols={[t('blocked.host'), t('blocked.address'), t('blocked.cause'), t('blocked.blocked_at'), t('blocked.expires_at'), writable && t('common.actions')]}
        row={(b) => (
          <tr data-address={b.address}>
            <td>
              <Link href={`/computers/${encodeURIComponent(b.agent_id)}`}>{host(b.agent_id)}</Link>
            </td>
            <td>{b.address}</td>
            <td class="subject">
              {b.rule_id}
              <div class="muted small">
                {b.cause_module}
                {b.mode ? ` · ${b.mode}` : ''}
              </div>
            </td>
            <td>{formatTime(b.blocked_at, lang.value)}</td>
            <td>{formatTime(b.expires_at, lang.value)}</td>
            {writable && (
              <td>
                {queued.has(key(b.agent_id, b.address)) ? (
                  <span class="muted" data-testid="removal-queued">{t('blocked.removal_queued')}</span>
                ) : (
                  <LinkButton aria-label={t('blocked.remove_one', { address: b.address, host: host(b.agent_id) })} onClick={() => void remove(b.agent_id, b.address)}>
                    {t('blocked.remove')}
                  </LinkButton>
                )}
              </td>
            )}
          </tr>
        )}
      />
    </section>
  );
}
