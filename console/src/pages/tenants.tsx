// Tenants (primary-tenant admins only: GET/POST/PATCH /tenants): list, create with the first admin
// user (its generated password shown once, as text), disable and enable. Everyone else gets the
// API's refusal (403/404) and sees a notice, never another tenant.
// TenantSettings (on the Administration page): the caller's own tenant settings (GET/PATCH
// /settings), editable by the tenant's admins.
import { useState } from 'preact/hooks';
import { api, ApiError, isAdmin } from '../api';
import { formatTime } from '../format';
import { lang, t } from '../i18n';
import { Head, Notes, useLoad, usePage } from '../components/scaffold';

interface Settings {
  event_retention_days: number;
  heartbeat_interval_s: number;
  inactive_agent_cleanup_days: number;
}
interface Tenant {
  id: string;
  name: string;
  primary: boolean;
  disabled: boolean;
  settings: Settings;
  created_at: string;
}
interface Created extends Tenant {
  admin_user?: { username: string; password?: string };
}

export function Tenants() {
  const [tenants, setTenants] = useState<Tenant[] | null>(null);
  const [denied, setDenied] = useState(false);
  const page = usePage();
  const act = page.run;
  const [created, setCreated] = useState<{ name: string; username: string; password: string } | null>(null);
  const [form, setForm] = useState({ name: '', username: '', retention: '91' });
  useLoad(
    () => api<{ items: Tenant[] }>('GET', '/tenants'),
    (r) => setTenants(r.items),
    (e) => (e instanceof ApiError && (e.status === 403 || e.status === 404) ? setDenied(true) : page.fail(e)),
    [page.reload],
  );
  if (denied) {
    return (
      <section>
        <h1>{t('tenants.title')}</h1>
        <p role="alert" class="error" data-testid="tenants-denied">
          {t('tenants.denied')}
        </p>
      </section>
    );
  }
  return (
    <section>
      <h1>{t('tenants.title')}</h1>
      <Notes error={page.error} />
      {created && (
        <div class="card secret" role="status">
          <p>
            {t('common.copy_once')} {t('tenants.first_admin', { tenant: created.name })}
          </p>
          <p>
            {t('signin.username')}: <code>{created.username}</code>
          </p>
          <p>
            {t('signin.password')}: <code data-testid="tenant-admin-password">{created.password}</code>
          </p>
          <button type="button" onClick={() => setCreated(null)}>
            {t('tenants.done')}
          </button>
        </div>
      )}
      <table data-testid="tenants">
        <Head cols={[t('common.name'), t('tenants.state'), t('settings.retention'), t('settings.heartbeat'), t('tenants.created'), <span class="sr-only">{t('tenants.actions')}</span>]} />
        <tbody>
          {(tenants ?? []).map((x) => (
            <tr>
              <td>
                {x.name} {x.primary && <span class="badge">{t('tenants.primary')}</span>}
              </td>
              <td>{x.disabled ? t('tenants.disabled') : t('tenants.enabled')}</td>
              <td>{x.settings.event_retention_days}</td>
              <td>{x.settings.heartbeat_interval_s}</td>
              <td>{formatTime(x.created_at, lang.value)}</td>
              <td>
                {!x.primary && (
                  <button
                    type="button"
                    aria-label={`${x.disabled ? t('tenants.enable') : t('tenants.disable')}: ${x.name}`}
                    onClick={() => act(async () => void (await api('PATCH', `/tenants/${encodeURIComponent(x.id)}`, { disabled: !x.disabled })))}
                  >
                    {x.disabled ? t('tenants.enable') : t('tenants.disable')}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>{t('tenants.create')}</h2>
      <form
        class="inline create"
        aria-label={t('tenants.create')}
        onSubmit={(e) => {
          e.preventDefault();
          void act(async () => {
            const r = await api<Created>('POST', '/tenants', {
              name: form.name,
              settings: { event_retention_days: Number(form.retention) },
              admin_user: { username: form.username },
            });
            setCreated({ name: r.name, username: r.admin_user?.username ?? '', password: r.admin_user?.password ?? '' });
            setForm({ name: '', username: '', retention: '91' });
          });
        }}
      >
        <label>
          {t('common.name')} <input name="tenant_name" required maxLength={200} value={form.name} onInput={(e) => setForm({ ...form, name: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          {t('tenants.admin_username')}{' '}
          <input name="admin_username" required maxLength={128} pattern="[A-Za-z0-9._@\-]+" value={form.username} onInput={(e) => setForm({ ...form, username: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          {t('settings.retention')}{' '}
          <input name="retention" type="number" min={1} max={3650} required value={form.retention} onInput={(e) => setForm({ ...form, retention: (e.target as HTMLInputElement).value })} />
        </label>
        <button type="submit">{t('common.create')}</button>
      </form>
    </section>
  );
}

export function TenantSettings() {
  const [s, setS] = useState<Settings | null>(null);
  const [error, setError] = useState('');
  const [saved, setSaved] = useState(false);
  const admin = isAdmin();
  useLoad(() => api<Settings>('GET', '/settings'), setS, (e) => setError(String(e.message)), []);
  if (!s) return error ? <p role="alert" class="error">{t('common.error', { message: error })}</p> : null;
  const field = (name: keyof Settings, label: string, min: number, max: number) => (
    <label>
      {label}{' '}
      <input
        name={name}
        type="number"
        min={min}
        max={max}
        required
        readOnly={!admin}
        value={String(s[name])}
        onInput={(e) => {
          setSaved(false);
          setS({ ...s, [name]: Number((e.target as HTMLInputElement).value) });
        }}
      />
    </label>
  );
  return (
    <>
      <h2 id="tenant-settings">{t('settings.title')}</h2>
      <form
        class="inline"
        aria-labelledby="tenant-settings"
        data-testid="tenant-settings"
        onSubmit={(e) => {
          e.preventDefault();
          setError('');
          api<Settings>('PATCH', '/settings', s)
            .then((r) => {
              setS(r);
              setSaved(true);
            })
            .catch((err) => setError(String(err.message)));
        }}
      >
        {field('event_retention_days', t('settings.retention'), 1, 3650)}
        {field('heartbeat_interval_s', t('settings.heartbeat'), 10, 86400)}
        {field('inactive_agent_cleanup_days', t('settings.cleanup'), 0, 3650)}
        {admin && <button type="submit">{t('common.save')}</button>}
        {saved && (
          <span role="status" class="ok">
            {t('account.saved')}
          </span>
        )}
        {error && (
          <span role="alert" class="error">
            {t('common.error', { message: error })}
          </span>
        )}
      </form>
    </>
  );
}
