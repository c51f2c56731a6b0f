// A policy's activation tokens (PATCH /activation-tokens/{id} {policy_id}): which tokens hand this
// policy to the agents activated with them, and assigning it to another token, from the Policies
// page; `TokenPolicySelect` is the same assignment as a select in the Administration page's token
// table. Agents already activated keep their policy (the Computers page assigns those).
import { useState } from 'preact/hooks';
import { api, canWrite } from '../api';
import { useLoad, usePage } from '../components/scaffold';
import { t } from '../i18n';
import type { Policy } from './types';

export interface Token {
  id: string;
  name: string;
  policy_id: string | null;
  uses: number;
  max_uses: number | null;
  revoked: boolean;
  created_at: string;
}

export function tokenLabel(k: Token): string {
  return k.name || `${t('tokens.unnamed')} ${k.id}`;
}

// Sets `token`'s policy (null clears it) and answers the token as stored.
export function assignTokenPolicy(token: Token, policyId: string | null): Promise<Token> {
  return api<Token>('PATCH', `/activation-tokens/${encodeURIComponent(token.id)}`, { policy_id: policyId });
}

export function PolicyTokens({ policy }: { policy: Policy }) {
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [choice, setChoice] = useState('');
  const page = usePage();
  useLoad(() => api<{ items: Token[] }>('GET', '/activation-tokens'), (r) => setTokens(r.items), page.fail, [page.reload, policy.id]);
  if (tokens === null) return null;
  const using = tokens.filter((k) => k.policy_id === policy.id);
  const others = tokens.filter((k) => k.policy_id !== policy.id && !k.revoked);
  return (
    <div class="card" role="region" aria-label={t('tokens.title')} data-testid="policy-tokens">
      <h2>{t('tokens.title')}</h2>
      {using.length === 0 ? (
        <p class="muted">{t('tokens.none_use')}</p>
      ) : (
        <ul>
          {using.map((k) => (
            <li data-token={k.id}>
              {tokenLabel(k)}
              {k.revoked && <span class="muted"> ({t('tokens.revoked')})</span>}
            </li>
          ))}
        </ul>
      )}
      {canWrite() && others.length > 0 && (
        <form
          class="inline"
          aria-label={t('tokens.assign_to')}
          onSubmit={(e) => {
            e.preventDefault();
            const k = others.find((x) => x.id === choice);
            if (!k) return;
            void page.run(async () => {
              await assignTokenPolicy(k, policy.id);
              page.setNotice(t('tokens.assigned', { name: tokenLabel(k), policy: policy.name }));
              setChoice('');
            });
          }}
        >
          <label>
            {t('tokens.choose')}{' '}
            <select name="token" required value={choice} onChange={(e) => setChoice((e.target as HTMLSelectElement).value)}>
              <option value="">—</option>
              {others.map((k) => (
                <option value={k.id}>{tokenLabel(k)}</option>
              ))}
            </select>
          </label>{' '}
          <button type="submit">{t('tokens.assign')}</button>
        </form>
      )}
      {page.notice && <p role="status" class="ok" data-testid="token-notice">{page.notice}</p>}
      {page.error && <p role="alert" class="error">{page.error}</p>}
    </div>
  );
}

// The policy of one token as a select that saves on change (writers); text for everyone else.
export function TokenPolicySelect(props: { token: Token; policies: Policy[]; onSaved: (t: Token) => void; onError: (m: string) => void }) {
  const { token, policies } = props;
  const name = token.policy_id ? policies.find((p) => p.id === token.policy_id)?.name ?? token.policy_id : t('tokens.no_policy');
  if (!canWrite() || token.revoked) return <>{name}</>;
  return (
    <select
      aria-label={`${t('tokens.policy')}: ${tokenLabel(token)}`}
      data-testid="token-policy"
      value={token.policy_id ?? ''}
      onChange={(e) => {
        const v = (e.target as HTMLSelectElement).value;
        assignTokenPolicy(token, v === '' ? null : v)
          .then(props.onSaved)
          .catch((err) => props.onError(String((err as Error).message)));
      }}
    >
      <option value="">{t('tokens.no_policy')}</option>
      {policies.map((p) => (
        <option value={p.id}>{p.name}</option>
      ))}
    </select>
  );
}
