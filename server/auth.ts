// API keys and roles: keys are random, stored only as SHA-256 hashes in the data folder, and
// looked up by hash with a constant-time comparison; a first start creates the admin key file.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';

export const ROLES = ['admin', 'pos', 'storefront', 'reader'] as const;
export type Role = typeof ROLES[number];

interface StoredKey { id: string; role: Role; hash: string; createdAt: string; revoked?: boolean }

const hashKey = (key: string): Buffer => createHash('sha256').update(key).digest();

export class KeyStore {
  private keys: StoredKey[] = [];
  private readonly byHash = new Map<string, StoredKey>();
  private readonly path: string;

  constructor(private readonly dataDir: string) {
    this.path = join(dataDir, 'keys.json');
    this.load();
  }

  /**
   * Reads keys.json again. Every change starts here, so that a server creating a key does not
   * write back a list that predates a `loyalty keys revoke` run beside it (the revocation would be lost).
   */
  private load(): void {
    if (existsSync(this.path)) this.keys = JSON.parse(readFileSync(this.path, 'utf8')) as StoredKey[];
    this.index();
  }

  private index(): void {
    this.byHash.clear();
    for (const k of this.keys) if (k.revoked !== true) this.byHash.set(k.hash, k);
  }

  private save(): void {
    const tmp = this.path + '.tmp';
    writeFileSync(tmp, JSON.stringify(this.keys, null, 2), { mode: 0o600 });
    renameSync(tmp, this.path);
  }

  /** Creates a key for `role` and returns it; only its hash is kept. */
  create(role: Role): { id: string; key: string; role: Role } {
    this.load();
    const id = 'k_' + randomBytes(6).toString('hex');
    const key = `ll_${role}_${randomBytes(24).toString('base64url')}`;
    this.keys.push({ id, role, hash: hashKey(key).toString('hex'), createdAt: new Date().toISOString() });
    this.save();
    this.index();
    return { id, key, role };
  }

  revoke(id: string): boolean {
    this.load();
    const k = this.keys.find((x) => x.id === id && x.revoked !== true);
    if (k === undefined) return false;
    k.revoked = true;
    this.save();
    this.index();
    return true;
  }

  list(): Array<{ id: string; role: Role; createdAt: string; revoked: boolean }> {
    return this.keys.map((k) => ({ id: k.id, role: k.role, createdAt: k.createdAt, revoked: k.revoked === true }));
  }

  /** The role of a presented key, or null. The hash lookup is followed by a constant-time compare. */
  roleOf(key: string): Role | null {
    const digest = hashKey(key);
    const found = this.byHash.get(digest.toString('hex'));
    if (found === undefined) return null;
    return timingSafeEqual(Buffer.from(found.hash, 'hex'), digest) ? found.role : null;
  }

  /** On a first start: an admin key, written alone on one line to a file only its owner can read. */
  ensureAdminKey(): { created: boolean; path: string } {
    const path = join(this.dataDir, 'admin.key');
    if (existsSync(path) && this.keys.some((k) => k.role === 'admin' && k.revoked !== true)) return { created: false, path };
    const { key } = this.create('admin');
    writeFileSync(path, key + '\n', { mode: 0o600 });
    chmodSync(path, 0o600);
    return { created: true, path };
  }
}
