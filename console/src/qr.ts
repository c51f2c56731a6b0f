// A QR code as SVG path data, drawn by the page itself (JSX <path>, no markup string, no canvas,
// no data: URL): what the Account page shows for the TOTP otpauth:// URI. The encoder is uqr
// (npm, MIT, no dependencies); tests/qr.test.ts decodes the result with jsQR.
import { encode } from 'uqr';

export interface QrPath {
  size: number; // modules per side, the quiet zone included
  d: string; // one unit square per dark module
}

// REQUIRES: text of at most a few hundred bytes (an otpauth URI); error correction M.
export function qrPath(text: string, border = 4): QrPath {
  const qr = encode(text, { ecc: 'M', border });
  let d = '';
  qr.data.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (dark) d += `M${x} ${y}h1v1h-1z`;
    }),
  );
  return { size: qr.size, d };
}

// The modules as rows of booleans (for tests that rasterise it).
export function qrModules(text: string, border = 4): boolean[][] {
  return encode(text, { ecc: 'M', border }).data;
}
