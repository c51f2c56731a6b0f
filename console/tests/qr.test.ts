import jsQR from 'jsqr';
import { describe, expect, it } from 'vitest';
import { qrModules, qrPath } from '../src/qr';

// Rasterises the modules (scale px per module, black on white) and reads them back with jsQR,
// an independent decoder: the code must carry exactly the text.
function decode(text: string, scale = 4): string | undefined {
  const rows = qrModules(text);
  const n = rows.length * scale;
  const rgba = new Uint8ClampedArray(n * n * 4);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const v = rows[Math.floor(y / scale)][Math.floor(x / scale)] ? 0 : 255;
      rgba.set([v, v, v, 255], (y * n + x) * 4);
    }
  }
  return jsQR(rgba, n, n)?.data;
}

describe('QR code of the TOTP URI', () => {
  it('decodes back to the otpauth URI, secret and issuer included', () => {
    const uri = 'otpauth://totp/Ward:dana?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Ward&algorithm=SHA1&digits=6&period=30';
    expect(decode(uri)).toBe(uri);
  });
  it('keeps non-ASCII user names (UTF-8) and percent escapes', () => {
    const uri = 'otpauth://totp/Ward:%E5%B1%B1%E7%94%B0?secret=GEZDGNBVGY3TQOJQ&issuer=Ward';
    expect(decode(uri)).toBe(uri);
  });
  it('draws one unit square per dark module inside a quiet zone', () => {
    const p = qrPath('otpauth://totp/Ward:x?secret=GEZDGNBVGY3TQOJQ');
    const dark = qrModules('otpauth://totp/Ward:x?secret=GEZDGNBVGY3TQOJQ').flat().filter(Boolean).length;
    expect(p.d.match(/M/g)?.length).toBe(dark);
    expect(p.size).toBe(qrModules('otpauth://totp/Ward:x?secret=GEZDGNBVGY3TQOJQ').length);
    expect(p.d.startsWith('M4 4')).toBe(true); // the finder pattern's corner after a 4-module border
  });
});
