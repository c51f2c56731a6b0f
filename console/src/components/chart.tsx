// A stacked bar chart in SVG: one bar per time bucket, one colour per series. Drawn by Preact as
// elements (no canvas, no chart library): a few hundred bars at most, and text labels stay text.
export interface Series {
  name: string;
  label: string;
  values: number[]; // one per bucket
  color?: string; // else one of COLORS by position
}

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];

export function StackedBars(props: { buckets: string[]; series: Series[]; title: string; height?: number }) {
  const { buckets, series, title } = props;
  const height = props.height ?? 180;
  const width = 640;
  const totals = buckets.map((_, i) => series.reduce((s, x) => s + (x.values[i] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const bw = buckets.length > 0 ? width / buckets.length : width;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={title} preserveAspectRatio="none">
        {buckets.map((b, i) => {
          let y = height;
          return series.map((s, si) => {
            const v = s.values[i] ?? 0;
            if (v === 0) return null;
            const h = (v / max) * (height - 4);
            y -= h;
            return (
              <rect x={i * bw + 1} y={y} width={Math.max(1, bw - 2)} height={h} fill={s.color ?? COLORS[si % COLORS.length]}>
                <title>{`${b} ${s.label}: ${v}`}</title>
              </rect>
            );
          });
        })}
      </svg>
      <figcaption class="legend">
        {series.map((s, si) => (
          <span class="key">
            <svg width="10" height="10" aria-hidden="true">
              <rect width="10" height="10" fill={s.color ?? COLORS[si % COLORS.length]} />
            </svg>
            {s.label} ({s.values.reduce((a, b) => a + b, 0)})
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
