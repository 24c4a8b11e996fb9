// Which content coding to send a file in, from the request's Accept-Encoding header (RFC 9110
// §12.5.3): the coding with the highest weight among those the server holds the file in, the
// server's own order (brotli, then gzip) breaking ties; `identity` when none is acceptable. A
// coding given `q=0` is refused, `*` stands for every coding the header does not name, and a
// missing or empty header asks for the file as it is.

/** The codings the console's assets are precompressed in, best first (console/precompress.ts). */
export const CODINGS = ['br', 'gzip'] as const;
export type Coding = typeof CODINGS[number];

/** The weight of each coding the header names (lower-cased), `*` included; a bad weight counts as 0. */
function weights(header: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const part of header.split(',')) {
    const [name, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    if (name === undefined || name === '') continue;
    let q = 1;
    for (const p of params) {
      const m = /^q=([0-9.]{1,5})$/.exec(p);
      if (m !== null) q = Number(m[1]);
      else if (p.startsWith('q=')) q = 0;
    }
    if (!Number.isFinite(q) || q < 0 || q > 1) q = 0;
    // Named twice, the first weight holds (what browsers never send, and no standard orders).
    if (!out.has(name)) out.set(name, q);
  }
  return out;
}

/** The coding to send, among those `held`, or 'identity'. */
export function chooseCoding(header: string, held: readonly Coding[]): Coding | 'identity' {
  if (header.trim() === '') return 'identity';
  const w = weights(header);
  const star = w.get('*');
  let best: Coding | 'identity' = 'identity';
  let bestQ = 0;
  for (const coding of CODINGS) {
    if (!held.includes(coding)) continue;
    const q = w.get(coding) ?? (coding === 'gzip' ? w.get('x-gzip') : undefined) ?? star ?? 0;
    if (q > bestQ) { best = coding; bestQ = q; }
  }
  return best;
}
