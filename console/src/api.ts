// The console's only way to the manager: the public REST API (/api/v1) with the session cookie
// (HttpOnly; the script never sees it) and, on mutating requests, the session's CSRF token in
// the X-Ward-CSRF header.
import { signal } from '@preact/signals';

export interface Me {
  user: { id: string; username: string; role: 'admin' | 'operator' | 'auditor'; language: 'en' | 'ja'; time_zone?: string; totp_enabled?: boolean };
  tenant: { id: string; name: string; primary: boolean };
  csrf_token: string;
  idle_expires_at: string;
  expires_at: string;
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public field: string,
    public retryAfter?: number,
    public line?: number,
  ) {
    super(message);
  }
}

export const me = signal<Me | null>(null);
// True once a request of a signed-in console was answered 401 (the session expired or was signed
// out elsewhere): the sign-in page says so. Every page stops its polling then (me is null, so
// the page is unmounted, and each poll loop also stops on a 401 itself): an idle tab must not
// keep calling the API with a dead cookie (docs/console.md, "Expired sessions").
export const sessionEnded = signal(false);

// True for an error that means the session is gone (the caller stops whatever it repeats).
export function isSessionEnd(e: unknown): boolean {
  return e instanceof ApiError && e.status === 401;
}

export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && me.value) headers['X-Ward-CSRF'] = me.value.csrf_token;
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  if (res.status === 204) return undefined as T;
  let data: unknown = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const e = (data as { error?: { code?: string; message?: string; field?: string; line?: number } } | null)?.error;
    const retry = Number(res.headers.get('Retry-After') ?? '');
    if (res.status === 401 && path !== '/session' && me.value) {
      sessionEnded.value = true;
      me.value = null;
    }
    throw new ApiError(
      res.status,
      e?.code ?? 'error',
      e?.message ?? `HTTP ${res.status}`,
      e?.field ?? '',
      Number.isFinite(retry) && retry > 0 ? retry : undefined,
      typeof e?.line === 'number' ? e.line : undefined,
    );
  }
  return data as T;
}

export function canWrite(): boolean {
  const r = me.value?.user.role;
  return r === 'admin' || r === 'operator';
}
export function isAdmin(): boolean {
  return me.value?.user.role === 'admin';
}
