// Egress in the console (issue #17): a policy's per-service proposals from learn mode, accepted
// with one action, and "add to allow-list" from an egress event. Both write the policy through
// PATCH /policies/{id} with the whole document, so each is a new policy version.
import { useState } from 'preact/hooks';
import { api, canWrite } from '../api';
import { acceptProposal, addToAllowList, destinationOf, hasEgress, proposalsOf, serviceOf, services, type Proposal, type ProposalsAnswer } from '../egress';
import { field, formatTime } from '../format';
import { lang, t, type Key } from '../i18n';
import type { Agent, Policy } from '../pages/types';
import { Head, Notes, useLoad, usePage } from './scaffold';

// In the policy page: for each service of the policy's egress section, the newest allow-list
// learn mode proposed on one of the policy's hosts (GET /policies/{id}/egress-proposals).
export function EgressProposals({ policy, onSaved }: { policy: Policy; onSaved: (p: Policy) => void }) {
  const svc = services(policy.document);
  const [proposals, setProposals] = useState<Proposal[] | null>(null);
  const [mode, setMode] = useState<Record<string, 'detect' | 'prevent'>>({});
  const page = usePage();
  useLoad(
    () => (svc.length === 0 ? null : api<ProposalsAnswer>('GET', `/policies/${encodeURIComponent(policy.id)}/egress-proposals`)),
    (r) => setProposals(proposalsOf(r)),
    page.fail,
    [policy.id, policy.version],
  );
  if (svc.length === 0) return null;
  const accept = (p: Proposal) =>
    page.attempt(async () => {
      const fresh = await api<Policy>('GET', `/policies/${encodeURIComponent(policy.id)}`);
      const m = mode[p.service] ?? 'detect';
      const saved = await api<Policy>('PATCH', `/policies/${encodeURIComponent(policy.id)}`, { document: acceptProposal(fresh.document, p.service, p.allow, m) });
      page.setNotice(t('egress.accepted', { service: p.service, n: p.allow.length, mode: t(`egress.mode.${m}` as Key), v: saved.version }));
      onSaved(saved);
    });
  const writable = canWrite();
  return (
    <section class="card egress-proposals" aria-labelledby="egress-proposals-title" data-testid="egress-proposals">
      <h2 id="egress-proposals-title">{t('egress.proposals')}</h2>
      <Notes error={page.error} notice={page.notice} id="egress-notice" />
      <table>
        <Head cols={[t('egress.service'), t('egress.current'), t('egress.proposed'), writable && t('common.actions')]} />
        <tbody>
          {svc.map((s) => {
            const p = proposals?.find((x) => x.service === s.id);
            const done = p !== undefined && s.mode !== 'learn' && p.allow.every((d) => s.allow.includes(d));
            return (
              <tr data-service={s.id}>
                <td>
                  {s.id}
                  <div class="muted small">{['learn', 'detect', 'prevent'].includes(s.mode) ? t(`egress.mode.${s.mode}` as Key) : s.mode}</div>
                </td>
                <td class="subject">{s.allow.length ? s.allow.join(', ') : <span class="muted">{t('common.none')}</span>}</td>
                <td class="subject">
                  {proposals === null ? (
                    t('common.loading')
                  ) : p ? (
                    <>
                      <ul class="plain" data-testid="proposed">
                        {p.allow.map((d) => (
                          <li>{d}</li>
                        ))}
                      </ul>
                      <div class="muted small">{t('egress.proposed_by', { host: p.host, t: formatTime(p.at, lang.value) })}</div>
                    </>
                  ) : (
                    <span class="muted">{s.mode === 'learn' ? t('egress.learning') : t('egress.no_proposal')}</span>
                  )}
                </td>
                {writable && (
                  <td>
                    {done && <span class="muted small" data-testid="proposal-accepted">{t('egress.all_allowed')}</span>}
                    {p && !done && (
                      <span class="buttons">
                        <label>
                          <span class="sr-only">{t('egress.then_mode', { service: s.id })}</span>
                          <select
                            aria-label={t('egress.then_mode', { service: s.id })}
                            value={mode[s.id] ?? 'detect'}
                            onChange={(e) => setMode({ ...mode, [s.id]: (e.target as HTMLSelectElement).value as 'detect' | 'prevent' })}
                          >
                            <option value="detect">{t('egress.mode.detect')}</option>
                            <option value="prevent">{t('egress.mode.prevent')}</option>
                          </select>
                        </label>
                        <button type="button" onClick={() => void accept(p)}>
                          {t('egress.accept', { service: s.id })}
                        </button>
                      </span>
                    )}
                  </td>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

// In the events drawer, for an egress event of a host with a policy: add its destination to the
// allow-list of the service the event names (or to the policy's own `allow`).
export function AllowFromEvent({ ev }: { ev: unknown }) {
  const isEgress = field(ev, 'event.module') === 'egress';
  const agentId = String(field(ev, 'agent.id') ?? '');
  const dest = destinationOf(ev);
  const [policy, setPolicy] = useState<Policy | null>(null);
  const page = usePage();
  useLoad(
    () =>
      !isEgress || !dest || !agentId || !canWrite()
        ? null
        : api<Agent>('GET', `/agents/${encodeURIComponent(agentId)}`).then((a) => (a.policy_id ? api<Policy>('GET', `/policies/${encodeURIComponent(a.policy_id)}`) : null)),
    (p) => setPolicy(p && hasEgress(p.document) ? p : null),
    () => undefined, // no button: the drawer still shows the event
    [agentId, dest],
  );
  if (!isEgress || !dest || !policy) return null;
  const service = serviceOf(ev, policy.document);
  const where = service ? t('egress.where_service', { policy: policy.name, service }) : t('egress.where_policy', { policy: policy.name });
  const add = () =>
    page.attempt(async () => {
      const fresh = await api<Policy>('GET', `/policies/${encodeURIComponent(policy.id)}`);
      const r = addToAllowList(fresh.document, serviceOf(ev, fresh.document), dest);
      if (!r.added) {
        page.setNotice(t('egress.already', { dest, where }));
        return;
      }
      const saved = await api<Policy>('PATCH', `/policies/${encodeURIComponent(policy.id)}`, { document: r.doc });
      setPolicy(saved);
      page.setNotice(t('egress.added', { dest, where, v: saved.version }));
    });
  return (
    <div class="allow-from-event" data-testid="allow-from-event">
      <button type="button" onClick={() => void add()}>
        {t('egress.add_to_allow', { dest })}
      </button>
      <span class="muted small"> {where}</span>
      <Notes error={page.error} notice={page.notice} id="allow-notice" />
    </div>
  );
}
