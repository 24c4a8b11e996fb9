// Keys for the console's writes (requestId, orderId, returnId): unique and random in every page
// context. crypto.randomUUID needs a secure context, which a console opened over plain HTTP on a
// shop's network is not; getRandomValues works everywhere.
const ALPHABET = '0123456789abcdefghijkmnpqrstuvwxyz';

/** `prefix-` and `length` random characters (16: about 80 bits), within the API's 64-character ids. */
export function newKey(prefix: string, length = 16): string {
  const bytes = new Uint8Array(length);
  crypto.getRandomValues(bytes);
  let out = '';
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return `${prefix}-${out}`;
}

/** A coupon code as people read it: 7K3M9QX2HD4P → 7K3M-9QX2-HD4P. */
export function couponCodeText(code: string): string {
  return code.length === 12 ? `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}` : code;
}
