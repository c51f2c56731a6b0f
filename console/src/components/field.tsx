// A form field's error line, tied to its input (aria-invalid, aria-describedby) so that a screen
// reader reads it with the field.
import { isAbout, type FormError } from '../fielderror';

export function errProps(err: FormError | null, name: string, id: string) {
  const bad = isAbout(err, name);
  return { 'aria-invalid': bad ? ('true' as const) : undefined, 'aria-describedby': bad ? `${id}-error` : undefined };
}

export function FieldError({ err, name, id }: { err: FormError | null; name: string; id: string }) {
  if (!err || !isAbout(err, name)) return null;
  return (
    <span id={`${id}-error`} class="error small field-error" data-testid={`error-${name}`}>
      {err.message}
    </span>
  );
}
