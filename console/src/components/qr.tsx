// <QrCode>: a QR code of `text` as inline SVG (src/qr.ts), scalable, with a text label for
// screen readers; the text itself is shown beside it by the caller.
import { qrPath } from '../qr';

export function QrCode({ text, label, px = 200 }: { text: string; label: string; px?: number }) {
  const { size, d } = qrPath(text);
  return (
    <svg class="qr" data-testid="totp-qr" role="img" aria-label={label} width={px} height={px} viewBox={`0 0 ${size} ${size}`} shape-rendering="crispEdges">
      <rect width={size} height={size} fill="#fff" />
      <path d={d} fill="#000" />
    </svg>
  );
}
