// API validation errors shown at the form field they name (docs/api.md "Conventions": `field` is
// the body field at fault, e.g. `filter.modules[1]` or `config.url`). A form maps each of its
// inputs to the field names it sends; an error whose field it does not know is shown above the
// form's buttons instead.
import { ApiError } from './api';
import { t } from './i18n';

export interface FormError {
  field: string; // '' when the error names no field
  message: string;
}

export function formError(e: unknown): FormError {
  if (e instanceof ApiError) return { field: e.field, message: e.message };
  return { field: '', message: String((e as Error).message ?? e) };
}

// True when `err` is about `name` or one of its parts (`filter.modules` covers
// `filter.modules[1]`; `recipients` covers `recipients[0]`).
export function isAbout(err: FormError | null, name: string): boolean {
  if (!err || !err.field) return false;
  const f = err.field;
  return f === name || f.startsWith(`${name}[`) || f.startsWith(`${name}.`);
}

// The error for a form's other fields: `known` lists the names its inputs show errors for.
export function otherError(err: FormError | null, known: string[]): string {
  if (!err) return '';
  if (known.some((k) => isAbout(err, k))) return '';
  return t('common.error', { message: err.message });
}

// Splits a comma- or newline-separated list as typed; empty entries are dropped.
export function splitList(s: string): string[] {
  return s
    .split(/[,\n]/)
    .map((x) => x.trim())
    .filter((x) => x !== '');
}
