// The signature of a webhook delivery (docs/api.md, "Verifying a delivery"): HMAC-SHA256 of
// "<unix seconds>.<body>" under the subscription's secret, sent as `t=<seconds>,v1=<hex>`.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A new subscription's secret: 32 random bytes, shown once. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('hex')}`;
}

export function signatureHeader(secret: string, unixSeconds: number, body: string): string {
  const v1 = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${v1}`;
}

/** Whether a `Loyalty-Signature` header signs `body` under `secret` (what a receiver runs; the tests use it too). */
export function verifySignature(secret: string, header: string, body: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (m === null) return false;
  const expected = createHmac('sha256', secret).update(`${m[1]}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'));
}
