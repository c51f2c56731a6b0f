// Text helpers of the Policies page: a line diff between two policy versions (longest common
// subsequence; text only, rendered as text) and the policy document as YAML for editing (the
// manager parses it with the agent's own YAML reader; strings that could read as anything else
// are written as JSON-quoted scalars, which YAML reads back unchanged).

export type DiffLine = { kind: 'same' | 'add' | 'del'; text: string; oldNo?: number; newNo?: number };

// Lines of `a` and `b` compared; at most 4000 lines each (beyond that the whole text differs).
export function lineDiff(a: string, b: string): DiffLine[] {
  const x = a === '' ? [] : a.split('\n');
  const y = b === '' ? [] : b.split('\n');
  if (x.length > 4000 || y.length > 4000) {
    return [
      ...x.map((text, i) => ({ kind: 'del' as const, text, oldNo: i + 1 })),
      ...y.map((text, i) => ({ kind: 'add' as const, text, newNo: i + 1 })),
    ];
  }
  const n = x.length;
  const m = y.length;
  // lcs[i][j]: length of the LCS of x[i..] and y[j..].
  const lcs: Uint32Array[] = [];
  for (let i = 0; i <= n; i++) lcs.push(new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) {
      out.push({ kind: 'same', text: x[i], oldNo: i + 1, newNo: j + 1 });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      out.push({ kind: 'del', text: x[i], oldNo: i + 1 });
      i++;
    } else {
      out.push({ kind: 'add', text: y[j], newNo: j + 1 });
      j++;
    }
  }
  for (; i < n; i++) out.push({ kind: 'del', text: x[i], oldNo: i + 1 });
  for (; j < m; j++) out.push({ kind: 'add', text: y[j], newNo: j + 1 });
  return out;
}

const plain = /^[A-Za-z0-9_./][A-Za-z0-9_./@+-]*$/;
const special = /^(true|false|yes|no|on|off|y|n|null|~|[-+]?(\.inf|\.nan)|[-+]?[0-9][0-9_.eExXoObB+-]*)$/i;

function scalar(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean' || typeof v === 'number') return JSON.stringify(v);
  const s = String(v);
  return plain.test(s) && !special.test(s) ? s : JSON.stringify(s);
}

function key(k: string): string {
  return plain.test(k) && !special.test(k) ? k : JSON.stringify(k);
}

function emit(v: unknown, indent: string, out: string[]): void {
  if (Array.isArray(v)) {
    for (const item of v) {
      if (item !== null && typeof item === 'object' && Object.keys(item).length > 0) {
        const sub: string[] = [];
        emit(item, indent + '  ', sub);
        out.push(`${indent}- ${sub[0].trimStart()}`, ...sub.slice(1));
      } else {
        out.push(`${indent}- ${inline(item)}`);
      }
    }
    return;
  }
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (val !== null && typeof val === 'object' && Object.keys(val).length > 0) {
      out.push(`${indent}${key(k)}:`);
      emit(val, indent + '  ', out);
    } else {
      out.push(`${indent}${key(k)}: ${inline(val)}`);
    }
  }
}

function inline(v: unknown): string {
  if (Array.isArray(v)) return '[]';
  if (v !== null && typeof v === 'object') return '{}';
  return scalar(v);
}

// The document (a JSON object) as block-style YAML, ending with a newline.
export function toYaml(doc: Record<string, unknown>): string {
  if (Object.keys(doc).length === 0) return '{}\n';
  const out: string[] = [];
  emit(doc, '', out);
  return out.join('\n') + '\n';
}
