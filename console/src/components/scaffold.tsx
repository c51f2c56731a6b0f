// The scaffolding the list-and-edit pages share (alert rules and channels, reports and schedules,
// alerts, policies, blocked addresses, egress): a page's error/notice lines and reload counter with
// `run` for one write, a cancellable load, the list table with its loading and empty states, the
// edit form with its field errors, the read-only note, the title row and the cursor pager. Each
// renders exactly the markup the pages wrote themselves (roles, test ids, i18n keys).
import type { ButtonHTMLAttributes, ComponentChildren, JSX, VNode } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { canWrite, me } from '../api';
import { formError, otherError, type FormError } from '../fielderror';
import { t } from '../i18n';
import { errProps, FieldError } from './field';

// A page's error line (role=alert), notice line (role=status) and reload counter. `attempt` does
// one write: it clears both lines, then shows why the write failed, if it did (`f` sets its own
// notice); `run` also shows `done` (when given) and reloads the page's data after it.
export function usePage() {
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [reload, setReload] = useState(0);
  const refresh = () => setReload((n) => n + 1);
  const fail = (e: unknown) => setError(t('common.error', { message: String((e as Error).message) }));
  const attempt = async (f: () => Promise<unknown>) => {
    setError('');
    setNotice('');
    try {
      await f();
    } catch (e) {
      fail(e);
    }
  };
  const run = (f: () => Promise<unknown>, done?: string) =>
    attempt(async () => {
      await f();
      if (done !== undefined) setNotice(done);
      refresh();
    });
  return { error, setError, notice, setNotice, reload, refresh, fail, attempt, run };
}
export type Page = ReturnType<typeof usePage>;

// Loads when `deps` change (`load` answers null when there is nothing to load); an answer that
// arrives after a newer load started (or after the page went away) is dropped.
export function useLoad<T>(load: () => Promise<T> | null, then: (v: T) => void, fail: (e: { status?: number; message: string }) => void, deps: unknown[]) {
  useEffect(() => {
    let live = true;
    load()
      ?.then((v) => live && then(v))
      .catch((e) => live && fail(e));
    return () => {
      live = false;
    };
  }, deps);
}

// One edit form's state: what is edited (an item or 'new'), the form's values and the API error
// to show at its fields. `save` writes through `write` (which answers the notice to show), then
// closes the form and reloads the page, or keeps the form open with the error at its field.
export function useEditor<T, F>(page: Page, toForm: (x: T | 'new') => F) {
  const [editing, setEditing] = useState<T | 'new' | null>(null);
  const [form, setForm] = useState<F>(() => toForm('new'));
  const [err, setErr] = useState<FormError | null>(null);
  const open = (x: T | 'new') => {
    setEditing(x);
    setErr(null);
    page.setNotice('');
    setForm(toForm(x));
  };
  const save = async (write: (x: T | 'new') => Promise<string>) => {
    if (editing === null) return;
    setErr(null);
    page.setNotice('');
    try {
      page.setNotice(await write(editing));
      setEditing(null);
      page.refresh();
    } catch (e) {
      setErr(formError(e));
    }
  };
  // An input's onInput/onChange for one form value.
  const set = (k: keyof F) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  return { editing, form, setForm, err, open, close: () => setEditing(null), save, set };
}

// The note a page shows to a role that cannot write.
export function ReadOnlyNote() {
  return canWrite() ? null : <p class="muted">{t('common.readonly', { role: me.value?.user.role ?? '' })}</p>;
}

// A page's heading with its "new …" button (for roles that can write).
export function TitleRow({ title, add, onAdd }: { title: string; add: string; onAdd: () => void }) {
  return (
    <div class="title-row">
      <h1>{title}</h1>
      {canWrite() && (
        <button type="button" onClick={onAdd}>
          {add}
        </button>
      )}
    </div>
  );
}

// The error and notice lines; `children` follow the notice's text.
export function Notes({ error, notice, id, children }: { error: string; notice?: string; id?: string; children?: ComponentChildren }) {
  return (
    <>
      {error && <p role="alert" class="error">{error}</p>}
      {notice && (
        <p role="status" class="ok" data-testid={id}>
          {notice}
          {children}
        </p>
      )}
    </>
  );
}

// A table's header row: one column header per label; `false` leaves a column out.
export function Head({ cols }: { cols: Array<ComponentChildren | false> }) {
  return (
    <thead>
      <tr>
        {cols.map((c) => c !== false && <th scope="col">{c}</th>)}
      </tr>
    </thead>
  );
}

// A list: "Loading…" while `items` is null (nothing when `loading` is false), the `empty` line when
// there is none (when given), else the table with one `row` per item.
export function ListTable<T>(p: {
  items: T[] | null;
  id?: string;
  cols: Array<ComponentChildren | false>;
  row: (x: T) => VNode;
  empty?: string;
  emptyId?: string;
  loading?: boolean;
}) {
  if (p.items === null) return p.loading === false ? null : <p>{t('common.loading')}</p>;
  if (p.empty !== undefined && p.items.length === 0) {
    return (
      <p class="muted" data-testid={p.emptyId}>
        {p.empty}
      </p>
    );
  }
  return (
    <table data-testid={p.id}>
      <Head cols={p.cols} />
      <tbody>{p.items.map(p.row)}</tbody>
    </table>
  );
}

// "First page" / "Next page" of a cursor-paged list.
export function Pager({ cursor, next, go }: { cursor: string | null; next: string | null; go: (c: string | null) => void }) {
  return (
    <div class="pager">
      {cursor && (
        <button type="button" onClick={() => go(null)}>
          {t('alerts.first_page')}
        </button>
      )}
      {next && (
        <button type="button" onClick={() => go(next)}>
          {t('alerts.next_page')}
        </button>
      )}
    </div>
  );
}

// An error for the form's other fields (`known` lists those its inputs show errors at) as a
// visible line; an error at a field is read out once more for screen readers.
export function FormErrors({ err, known }: { err: FormError | null; known: string[] }) {
  const other = otherError(err, known);
  if (other) return <p role="alert" class="error">{other}</p>;
  return err && <p role="alert" class="sr-only">{err.message}</p>;
}

// An edit form (class "editor card"): its heading (also its accessible name), the fields, the
// error for fields it has none for, Save (for roles that can write) and Cancel/Close.
export function Editor(p: {
  title?: string;
  id?: string;
  onSave: () => void;
  onClose: () => void;
  close?: string;
  err?: FormError | null;
  known?: string[];
  children: ComponentChildren;
}) {
  return (
    <form
      class="editor card"
      data-testid={p.id}
      aria-label={p.title}
      onSubmit={(e) => {
        e.preventDefault();
        p.onSave();
      }}
    >
      {p.title && <h2>{p.title}</h2>}
      {p.children}
      {p.known && <FormErrors err={p.err ?? null} known={p.known} />}
      <div class="buttons">
        {canWrite() && <button type="submit">{t('common.save')}</button>}
        <button type="button" onClick={p.onClose}>
          {p.close ?? t('common.cancel')}
        </button>
      </div>
    </form>
  );
}

// A labelled text input (or a textarea with `rows`) with its hint and the API error about `field`.
export function TextField(p: {
  label: string;
  name: string;
  value: string;
  onInput: (e: Event) => void;
  err: FormError | null;
  field: string;
  id: string;
  hint?: string;
  readOnly?: boolean;
  rows?: number;
  type?: string;
  inputMode?: JSX.HTMLAttributes['inputMode'];
}) {
  const ep = errProps(p.err, p.field, p.id);
  return (
    <label>
      {p.label}
      {p.rows ? (
        <textarea name={p.name} rows={p.rows} value={p.value} readOnly={p.readOnly} onInput={p.onInput} {...ep} />
      ) : (
        <input type={p.type} name={p.name} inputMode={p.inputMode} value={p.value} readOnly={p.readOnly} onInput={p.onInput} {...ep} />
      )}
      {p.hint && <span class="muted small">{p.hint}</span>}
      <FieldError err={p.err} name={p.field} id={p.id} />
    </label>
  );
}

// A button that looks like a link (the actions in a table row).
export function LinkButton(p: ButtonHTMLAttributes) {
  return <button type="button" class="link" {...p} />;
}

