// Administration: users (/users), API keys (/apikeys), activation tokens (/activation-tokens)
// with the install command, and the audit log (/audit). Secrets are shown once, as text.
import { useEffect, useState } from 'preact/hooks';
import { api, isAdmin, me } from '../api';
import { formatTime } from '../format';
import { lang, t, type Key } from '../i18n';
import type { Policy } from './types';
import { AuditLog } from './audit';
import { TenantSettings } from './tenants';
import { TokenPolicySelect, type Token } from './policy_tokens';
import { LinkButton, ListTable, Notes, usePage } from '../components/scaffold';

interface User { id: string; username: string; role: string; language: string; created_at: string }
interface Key_ { id: string; name: string; role: string; revoked: boolean; created_at: string; expires_at: string | null }
interface Info { tls_fingerprint: string }

const ROLES = ['admin', 'operator', 'auditor'];

export function Admin() {
  const role = me.value?.user.role;
  const [users, setUsers] = useState<User[]>([]);
  const [keys, setKeys] = useState<Key_[]>([]);
  const [tokens, setTokens] = useState<Token[]>([]);
  const [policies, setPolicies] = useState<Policy[]>([]);
  const [info, setInfo] = useState<Info | null>(null);
  const [secret, setSecret] = useState<{ label: string; value: string; command?: string } | null>(null);
  const page = usePage();
  const act = page.run;
  const admin = isAdmin();
  const reader = role === 'admin' || role === 'auditor';
  useEffect(() => {
    const jobs: Promise<unknown>[] = [
      api<{ items: User[] }>('GET', '/users').then((r) => setUsers(r.items)),
      api<{ items: Token[] }>('GET', '/activation-tokens').then((r) => setTokens(r.items)),
      api<{ items: Policy[] }>('GET', '/policies').then((r) => setPolicies(r.items)),
      api<Info>('GET', '/info').then(setInfo),
    ];
    if (reader) {
      jobs.push(api<{ items: Key_[] }>('GET', '/apikeys').then((r) => setKeys(r.items)));
    }
    Promise.all(jobs).catch(page.fail);
  }, [page.reload]);
  // A key's or token's last cell: Revoke (admins), or that it is revoked.
  const revokeCell = (k: { id: string; revoked: boolean }, path: string) =>
    admin && (
      <td>
        {k.revoked ? t('common.revoked') : <LinkButton onClick={() => act(() => api('DELETE', `${path}/${encodeURIComponent(k.id)}`))}>{t('common.revoke')}</LinkButton>}
      </td>
    );
  return (
    <section>
      <h1>{t('admin.title')}</h1>
      {!admin && <p class="muted">{t('common.readonly', { role: role ?? '' })}</p>}
      <Notes error={page.error} />
      {secret && (
        <div class="card secret" role="status">
          <p>{t('common.copy_once')} {secret.label}</p>
          <code data-testid="secret">{secret.value}</code>
          {secret.command && (
            <>
              <p>{t('admin.install')}</p>
              <pre data-testid="install-command">{secret.command}</pre>
            </>
          )}
          <button type="button" onClick={() => setSecret(null)}>{t('common.close')}</button>
        </div>
      )}

      <h2>{t('admin.users')}</h2>
      <ListTable
        items={users}
        id="users"
        cols={[t('admin.username'), t('common.role'), t('admin.language'), t('common.created'), admin && t('common.actions')]}
        row={(u) => (
          <tr>
            <td>{u.username}</td>
            <td>{t(`role.${u.role}` as Key)}</td>
            <td>{u.language}</td>
            <td>{formatTime(u.created_at, lang.value)}</td>
            {admin && (
              <td>
                {u.id !== me.value?.user.id && (
                  <LinkButton onClick={() => act(() => api('DELETE', `/users/${encodeURIComponent(u.id)}`))}>
                    {t('common.delete')}
                  </LinkButton>
                )}
              </td>
            )}
          </tr>
        )}
      />
      {admin && (
        <CreateForm
          label={t('admin.users')}
          fields={[{ name: 'username', label: t('admin.username') }]}
          roles
          onCreate={(v) =>
            act(async () => {
              const r = await api<{ username: string; password: string }>('POST', '/users', { username: v.username, role: v.role, language: lang.value });
              setSecret({ label: t('admin.password_printed', { user: r.username }), value: r.password });
            })
          }
        />
      )}

      {reader && (
        <>
          <h2>{t('admin.apikeys')}</h2>
          <ListTable
            items={keys}
            id="apikeys"
            cols={[t('common.name'), t('common.role'), t('common.created'), admin && t('common.actions')]}
            row={(k) => (
              <tr>
                <td>{k.name}</td>
                <td>{t(`role.${k.role}` as Key)}</td>
                <td>{formatTime(k.created_at, lang.value)}</td>
                {revokeCell(k, '/apikeys')}
              </tr>
            )}
          />
          {admin && (
            <CreateForm
              label={t('admin.apikeys')}
              fields={[{ name: 'name', label: t('common.name') }]}
              roles
              onCreate={(v) =>
                act(async () => {
                  const r = await api<{ secret: string }>('POST', '/apikeys', { name: v.name, role: v.role });
                  setSecret({ label: v.name, value: r.secret });
                })
              }
            />
          )}
        </>
      )}

      <h2>{t('admin.tokens')}</h2>
      <ListTable
        items={tokens}
        id="tokens"
        cols={[t('common.name'), t('admin.token_policy'), t('admin.uses'), t('common.created'), admin && t('common.actions')]}
        row={(k) => (
          <tr>
            <td>{k.name}</td>
            <td>
              <TokenPolicySelect token={k} policies={policies} onSaved={(n) => setTokens(tokens.map((x) => (x.id === n.id ? n : x)))} onError={(message) => page.setError(t('common.error', { message }))} />
            </td>
            <td>
              {k.uses}
              {k.max_uses !== null ? ` / ${k.max_uses}` : ''}
            </td>
            <td>{formatTime(k.created_at, lang.value)}</td>
            {revokeCell(k, '/activation-tokens')}
          </tr>
        )}
      />
      {admin && (
        <CreateForm
          label={t('admin.tokens')}
          fields={[{ name: 'name', label: t('common.name') }]}
          policies={policies}
          onCreate={(v) =>
            act(async () => {
              const body: Record<string, unknown> = { name: v.name };
              if (v.policy) body.policy_id = v.policy;
              const r = await api<{ token: string }>('POST', '/activation-tokens', body);
              const fp = info?.tls_fingerprint ? ` --manager-fingerprint ${info.tls_fingerprint}` : '';
              setSecret({ label: v.name, value: r.token, command: `ward-agent activate --manager ${location.origin} --token ${r.token}${fp}` });
            })
          }
        />
      )}

      <TenantSettings />
      {reader && <AuditLog />}
    </section>
  );
}

function CreateForm(props: {
  label: string;
  fields: Array<{ name: string; label: string }>;
  roles?: boolean;
  policies?: Policy[];
  onCreate: (v: Record<string, string>) => void;
}) {
  const [v, setV] = useState<Record<string, string>>({ role: 'operator' });
  return (
    <form
      class="inline create"
      aria-label={`${t('common.create')}: ${props.label}`}
      onSubmit={(e) => {
        e.preventDefault();
        props.onCreate(v);
        setV({ role: 'operator' });
      }}
    >
      {props.fields.map((f) => (
        <label>
          {f.label} <input name={f.name} required value={v[f.name] ?? ''} onInput={(e) => setV({ ...v, [f.name]: (e.target as HTMLInputElement).value })} />
        </label>
      ))}
      {props.roles && (
        <label>
          {t('common.role')}{' '}
          <select name="role" value={v.role} onChange={(e) => setV({ ...v, role: (e.target as HTMLSelectElement).value })}>
            {ROLES.map((r) => (
              <option value={r}>{t(`role.${r}` as Key)}</option>
            ))}
          </select>
        </label>
      )}
      {props.policies && (
        <label>
          {t('admin.token_policy')}{' '}
          <select name="policy" value={v.policy ?? ''} onChange={(e) => setV({ ...v, policy: (e.target as HTMLSelectElement).value })}>
            <option value="">{t('common.none')}</option>
            {props.policies.map((p) => (
              <option value={p.id}>{p.name}</option>
            ))}
          </select>
        </label>
      )}
      <button type="submit">{t('common.create')}</button>
    </form>
  );
}
