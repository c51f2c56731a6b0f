// The shell: who is signed in (GET /api/v1/session), the navigation, and the page for the path.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, me, type Me } from './api';
import { isLang, lang, t, type Key, type Lang } from './i18n';
import { Link, navigate, route } from './router';
import { SignIn } from './pages/signin';
import { Dashboard } from './pages/dashboard';
import { Computers } from './pages/computers';
import { Events } from './pages/events';
import { Policies } from './pages/policies';
import { Admin } from './pages/admin';
import { Tenants } from './pages/tenants';
import { Account } from './pages/account';
import { timeZones, userTimeZone } from './format';
import { Alerts } from './pages/alerts';
import { Tuning } from './pages/tuning';
import { Computer } from './pages/computer';
import { AlertSettings } from './pages/alert_rules';
import { Reports } from './pages/reports';
import { BlockedAddresses } from './pages/blocked';

const pages = [
  { path: '/', key: 'nav.dashboard', view: Dashboard },
  { path: '/computers', key: 'nav.computers', view: Computers },
  { path: '/events', key: 'nav.events', view: Events },
  { path: '/policies', key: 'nav.policies', view: Policies },
  { path: '/alerts', key: 'nav.alerts', view: Alerts },
  { path: '/tuning', key: 'nav.tuning', view: Tuning },
  { path: '/reports', key: 'nav.reports', view: Reports },
  { path: '/admin', key: 'nav.admin', view: Admin },
  { path: '/tenants', key: 'nav.tenants', view: Tenants, primaryAdmin: true },
  { path: '/account', key: 'nav.account', view: Account },
] as const;
// Pages under a navigation entry (highlighted as it): the path starts with `prefix`.
const subpages = [
  { prefix: '/computers/', nav: '/computers', view: Computer },
  { prefix: '/alerts/', nav: '/alerts', view: AlertSettings },
  { prefix: '/network/', nav: '/computers', view: BlockedAddresses },
] as const;

// Pages only primary-tenant admins see in the navigation (the API refuses everyone else anyway).
function shown(p: (typeof pages)[number]): boolean {
  if (!('primaryAdmin' in p)) return true;
  return me.value?.tenant.primary === true && me.value.user.role === 'admin';
}

export function App() {
  const [checked, setChecked] = useState(false);
  useEffect(() => {
    api<Me>('GET', '/session')
      .then((m) => {
        me.value = m;
        if (isLang(m.user.language)) lang.value = m.user.language;
        userTimeZone.value = m.user.time_zone ?? '';
      })
      .catch(() => (me.value = null))
      .finally(() => setChecked(true));
  }, []);
  useEffect(() => {
    document.documentElement.lang = lang.value;
  }, [lang.value]);

  if (!checked) return <p class="loading">{t('common.loading')}</p>;
  if (!me.value) return <SignIn />;
  const path = route.value.path;
  const sub = subpages.find((s) => path.startsWith(s.prefix) && path.length > s.prefix.length);
  const page = pages.find((p) => p.path === (sub ? sub.nav : path)) ?? pages[0];
  const View = sub ? sub.view : page.view;
  return (
    <div class="shell">
      <header class="top">
        <span class="brand">{t('app.name')}</span>
        <nav aria-label="main">
          {pages.filter(shown).map((p) => (
            <Link href={p.path} class={p.path === page.path ? 'active' : ''} aria-current={p.path === page.path ? 'page' : undefined}>
              {t(p.key)}
            </Link>
          ))}
        </nav>
        <span class="who" title={`${me.value.user.username} · ${me.value.tenant.name} · ${t(`role.${me.value.user.role}` as Key)}`}>
          <span data-testid="who">{me.value.user.username}</span> · {me.value.tenant.name} · {t(`role.${me.value.user.role}` as Key)}
        </span>
        <label class="lang">
          <span class="sr-only">{t('nav.language')}</span>
          <select
            aria-label={t('nav.language')}
            value={lang.value}
            onChange={(e) => {
              const l = (e.target as HTMLSelectElement).value as Lang;
              lang.value = l;
              api('PATCH', '/session', { language: l }).catch(() => undefined);
            }}
          >
            <option value="en">English</option>
            <option value="ja">日本語</option>
          </select>
        </label>
        <label class="lang tz">
          <span class="sr-only">{t('nav.time_zone')}</span>
          <select
            aria-label={t('nav.time_zone')}
            data-testid="time-zone"
            value={userTimeZone.value}
            onChange={(e) => {
              const z = (e.target as HTMLSelectElement).value;
              api<Me>('PATCH', '/session', { time_zone: z })
                .then((m) => {
                  me.value = m;
                  userTimeZone.value = m.user.time_zone ?? '';
                })
                .catch(() => undefined);
            }}
          >
            <option value="">{t('account.tz_browser')}</option>
            {timeZones().map((z) => (
              <option value={z}>{z}</option>
            ))}
          </select>
        </label>
        <button
          type="button"
          onClick={async () => {
            try {
              await api('DELETE', '/session');
            } catch (e) {
              if (!(e instanceof ApiError)) throw e;
            }
            me.value = null;
            navigate('/');
          }}
        >
          {t('nav.signout')}
        </button>
      </header>
      <main>
        <View />
      </main>
    </div>
  );
}
