// API keys and roles: keys are random, stored only as SHA-256 hashes in the data folder's keys.json,
// looked up by hash with a constant-time comparison, and re-read whenever that file changes, so a
// key created or revoked by the command line takes effect on a running server within a second. In
// cluster mode the deployment's keys stream is the source instead (server/cluster-keys.ts): a
// change is published there first, and keys.json is this node's copy of the deployment's keys.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLock } from '../engine/router/lock-file.js';
import { LoyaltyError } from '../engine/errors.js';
import { AUTH_CACHE_KEYS_MAX, KEYS_LOCK_WAIT_MS } from '../engine/limits.js';

export const ROLES = ['admin', 'pos', 'storefront', 'reader'] as const;
export type Role = typeof ROLES[number];

interface StoredKey { id: string; role: Role; hash: string; createdAt: string; revoked?: boolean }

/** A key as the deployment's keys stream carries it (engine/cluster/keys-stream.ts): never the key itself. */
export interface SharedKey { id: string; role: Role; hash: string; createdAt: string; revoked: boolean }

/** The file in a cluster node's data folder that says whose keys keys.json copies; `loyalty keys` refuses changes while it exists. */
export const CLUSTER_KEYS_FILE = 'keys-deployment.json';

/** The deployment whose keys a data folder's keys.json copies, or null for a folder of its own. */
export function keysDeploymentOf(dataDir: string): { deployment: string; stream: string } | null {
  let text: string;
  try {
    text = readFileSync(join(dataDir, CLUSTER_KEYS_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return JSON.parse(text) as { deployment: string; stream: string };
}

/** A key as it is listed: never its hash. */
export interface KeyInfo { id: string; role: Role; createdAt: string; revoked: boolean }

/** Who presented a valid key: the key's id (checked again for liveness later, e.g. per stream batch) and its role. */
export interface Principal { id: string; role: Role }

/** What the watch reports: the keys that appeared and the keys revoked since the last read. */
export interface KeysChange { created: string[]; revoked: string[] }

const hashKey = (key: string): Buffer => createHash('sha256').update(key).digest();

/** A key's SHA-256 in hex, as keys.json and the deployment's keys stream hold it. */
export const keyHashHex = (key: string): string => hashKey(key).toString('hex');

/**
 * The key of an `Authorization: Bearer <key>` header, or null. The scheme's name is
 * case-insensitive (RFC 9110, section 11.1): `bearer` and `BEARER` are the same scheme.
 */
export function bearerKey(header: string): string | null {
  const m = /^bearer\s+(\S+)$/i.exec(header);
  return m === null ? null : m[1]!;
}

/** Identifies one version of keys.json: writes replace the file by rename, so the inode changes with each. */
function stampOf(s: { ino: number; size: number; mtimeMs: number }): string {
  return `${s.ino}:${s.size}:${s.mtimeMs}`;
}

const isRole = (role: string): role is Role => (ROLES as readonly string[]).includes(role);

const toShared = (k: StoredKey): SharedKey => ({ id: k.id, role: k.role, hash: k.hash, createdAt: k.createdAt, revoked: k.revoked === true });

const toInfo = (k: StoredKey): KeyInfo => ({ id: k.id, role: k.role, createdAt: k.createdAt, revoked: k.revoked === true });

export class KeyStore {
  private keys: StoredKey[] = [];
  private readonly byHash = new Map<string, StoredKey>();
  private readonly liveIds = new Set<string>();
  /**
   * Keys presented lately that authenticated, and to whom: a SHA-256 per request was 4% of the
   * front end's time under HTTP load. Emptied whenever the key list changes (a revocation takes
   * effect as before), bounded by AUTH_CACHE_KEYS_MAX; a key that fails is never kept.
   */
  private readonly recent = new Map<string, Principal>();
  private readonly path: string;
  /** The version of keys.json the keys in memory were read from; null when there was no file. */
  private stamp: string | null = null;
  private watchTimer: NodeJS.Timeout | null = null;
  /**
   * Cluster mode: publishes a changed key to the deployment's keys stream and resolves once the
   * stream holds it. While set, keys change only through createShared and revokeShared.
   */
  private publish: ((key: SharedKey) => Promise<void>) | null = null;

  constructor(private readonly dataDir: string) {
    this.path = join(dataDir, 'keys.json');
    this.load();
  }

  /**
   * Reads keys.json again. Every change starts here (under keys.json.lock), so that a server creating a key does not
   * write back a list that predates a `loyalty keys revoke` run beside it (the revocation would be lost).
   * The stamp comes from the descriptor the content is read from, so the two always belong together.
   */
  private load(): void {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.keys = [];
      this.stamp = null;
      this.index();
      return;
    }
    try {
      const stamp = stampOf(fstatSync(fd));
      this.keys = JSON.parse(readFileSync(fd, 'utf8')) as StoredKey[];
      this.stamp = stamp;
    } finally {
      closeSync(fd);
    }
    this.index();
  }

  private index(): void {
    this.recent.clear();
    this.byHash.clear();
    this.liveIds.clear();
    for (const k of this.keys) {
      if (k.revoked === true) continue;
      this.byHash.set(k.hash, k);
      this.liveIds.add(k.id);
    }
  }

  /**
   * Writes the list durably: a fresh temporary file (mode 0600), fsynced, renamed over keys.json,
   * and the folder fsynced, so a revocation acknowledged to its caller survives a power cut.
   */
  private save(): void {
    const tmp = this.path + '.tmp';
    // A temporary file left by a crash keeps its old mode if reopened: start from a new one.
    rmSync(tmp, { force: true });
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, JSON.stringify(this.keys, null, 2));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    const dirFd = openSync(this.dataDir, 'r');
    try { fsyncSync(dirFd); } finally { closeSync(dirFd); }
  }

  /**
   * Re-reads keys.json if it changed since it was last read (a cheap stat). Returns what changed,
   * or null. A file that cannot be parsed (a hand edit in progress) leaves the keys read before in
   * force and throws, once per version of the file.
   */
  refresh(): KeysChange | null {
    const s = statSync(this.path, { throwIfNoEntry: false });
    const stamp = s === undefined ? null : stampOf(s);
    if (stamp === this.stamp) return null;
    const before = new Set(this.liveIds);
    const known = new Set(this.keys.map((k) => k.id));
    try {
      this.load();
    } catch (err) {
      // Not retried until the file changes again: the error is reported once, not every tick.
      this.stamp = stamp;
      throw err;
    }
    const created = [...this.liveIds].filter((id) => !known.has(id));
    const revoked = [...before].filter((id) => !this.liveIds.has(id));
    return { created, revoked };
  }

  /**
   * Checks keys.json every `intervalMs` (a stat; the file is read only when it changed) until
   * `close`. The timer does not keep the process alive.
   */
  watch(intervalMs: number, on: { changed(change: KeysChange): void; failed(err: unknown): void }): void {
    if (this.watchTimer !== null) return;
    this.watchTimer = setInterval(() => {
      let change: KeysChange | null;
      try {
        change = this.refresh();
      } catch (err) {
        on.failed(err);
        return;
      }
      if (change !== null && (change.created.length > 0 || change.revoked.length > 0)) on.changed(change);
    }, intervalMs);
    this.watchTimer.unref();
  }

  close(): void {
    if (this.watchTimer !== null) clearInterval(this.watchTimer);
    this.watchTimer = null;
  }

  /**
   * Runs one change of keys.json from a fresh read to its write, holding keys.json.lock: the server
   * and `loyalty keys` change the file from different processes, and two read-change-write runs
   * overlapping would lose one of the changes (a revocation, say). The lock is held for about a
   * millisecond; a change waits up to KEYS_LOCK_WAIT_MS for another to finish.
   */
  private change<T>(apply: () => T): T {
    const lock = acquireLock(join(this.dataDir, 'keys.json.lock'), `keys change, pid ${process.pid}`, { waitMs: KEYS_LOCK_WAIT_MS });
    try {
      this.load();
      return apply();
    } finally {
      lock.release();
    }
  }

  /** Creates a key for `role` and returns it; only its hash is kept. */
  create(role: Role): { id: string; key: string; role: Role } {
    this.assertLocal();
    return this.change(() => {
      const id = 'k_' + randomBytes(6).toString('hex');
      const key = `ll_${role}_${randomBytes(24).toString('base64url')}`;
      this.keys.push({ id, role, hash: hashKey(key).toString('hex'), createdAt: new Date().toISOString() });
      this.save();
      this.index();
      return { id, key, role };
    });
  }

  /**
   * Revokes a key. Revoking a revoked key changes nothing and answers it as it is; an unknown id
   * answers null.
   */
  revoke(id: string): KeyInfo | null {
    this.assertLocal();
    return this.change(() => {
      const k = this.keys.find((x) => x.id === id);
      if (k === undefined) return null;
      if (k.revoked !== true) {
        k.revoked = true;
        this.save();
        this.index();
      }
      return toInfo(k);
    });
  }

  private assertLocal(): void {
    if (this.publish !== null) throw new Error('the keys of a cluster node change through the deployment\'s keys stream (createShared, revokeShared)');
  }

  /** Every key as the deployment's keys stream carries it, in the order of keys.json. */
  shared(): SharedKey[] {
    return this.keys.map(toShared);
  }

  /**
   * Cluster mode from here on: every change is published with `publish` first, and the keys
   * themselves come from the deployment (adopt, merge). The file is no longer watched.
   */
  shareThrough(publish: (key: SharedKey) => Promise<void>): void {
    this.close();
    this.publish = async (key) => {
      try {
        await publish(key);
      } catch (err) {
        // A retry is harmless: a key created without an answer has no holder, and a revocation is idempotent.
        throw new LoyaltyError('storage_failed', `the deployment's keys stream did not acknowledge the change (${err instanceof Error ? err.message : String(err)}); nothing is answered as changed: retry`);
      }
    };
  }

  /**
   * Makes the deployment's keys this node's: keys.json becomes exactly `keys` (in their order).
   * Answers the ids of local keys the deployment does not have (dropped).
   */
  adopt(keys: SharedKey[]): string[] {
    return this.change(() => {
      const ids = new Set(keys.map((k) => k.id));
      const dropped = this.keys.filter((k) => !ids.has(k.id)).map((k) => k.id);
      this.keys = keys.map((k) => this.stored(k));
      this.save();
      this.index();
      return dropped;
    });
  }

  /**
   * Takes changed keys from the deployment into keys.json and the keys in force: a key's record
   * replaces the one with its id, except that a revoked key stays revoked (a record read late can
   * never bring a key back). Answers what changed.
   */
  merge(keys: SharedKey[]): KeysChange {
    return this.change(() => {
      const change: KeysChange = { created: [], revoked: [] };
      for (const incoming of keys) {
        const k = this.stored(incoming);
        const i = this.keys.findIndex((x) => x.id === k.id);
        if (i === -1) {
          this.keys.push(k);
          if (k.revoked === true) continue;
          change.created.push(k.id);
          continue;
        }
        const was = this.keys[i]!;
        if (was.revoked === true) continue;
        this.keys[i] = k;
        if (k.revoked === true) change.revoked.push(k.id);
      }
      if (keys.length > 0) {
        this.save();
        this.index();
      }
      return change;
    });
  }

  private stored(k: SharedKey): StoredKey {
    if (!isRole(k.role)) throw new Error(`the deployment's key ${k.id} has the role ${JSON.stringify(k.role)}, not one of ${ROLES.join(', ')}`);
    return k.revoked ? { id: k.id, role: k.role, hash: k.hash, createdAt: k.createdAt, revoked: true } : { id: k.id, role: k.role, hash: k.hash, createdAt: k.createdAt };
  }

  /**
   * Creates a key: on one machine as `create`; in cluster mode its record is published to the
   * deployment's keys stream and acknowledged there before it is taken here and answered.
   */
  async createShared(role: Role): Promise<{ id: string; key: string; role: Role }> {
    if (this.publish === null) return this.create(role);
    const id = 'k_' + randomBytes(6).toString('hex');
    const key = `ll_${role}_${randomBytes(24).toString('base64url')}`;
    const record: SharedKey = { id, role, hash: hashKey(key).toString('hex'), createdAt: new Date().toISOString(), revoked: false };
    await this.publish(record);
    this.merge([record]);
    return { id, key, role };
  }

  /**
   * Revokes a key: on one machine as `revoke`; in cluster mode the revoked record is published and
   * acknowledged first, then this node refuses the key at once and every other node at its next read.
   */
  async revokeShared(id: string): Promise<KeyInfo | null> {
    if (this.publish === null) return this.revoke(id);
    const k = this.keys.find((x) => x.id === id);
    if (k === undefined) return null;
    if (k.revoked === true) return toInfo(k);
    const record: SharedKey = { ...toShared(k), revoked: true };
    await this.publish(record);
    this.merge([record]);
    return toInfo(this.keys.find((x) => x.id === id)!);
  }

  /** Whether a presented key is one of the live keys (the admin key file of a node joining a deployment is checked so). */
  isLiveKey(key: string): boolean {
    return this.byHash.has(hashKey(key).toString('hex'));
  }

  list(): KeyInfo[] {
    return this.keys.map(toInfo);
  }

  /** The key and role of a presented key, or null. The hash lookup is followed by a constant-time compare. */
  authenticate(key: string | null): Principal | null {
    if (key === null) return null;
    const known = this.recent.get(key);
    if (known !== undefined) return known;
    const digest = hashKey(key);
    const found = this.byHash.get(digest.toString('hex'));
    if (found === undefined) return null;
    if (!timingSafeEqual(Buffer.from(found.hash, 'hex'), digest)) return null;
    const principal: Principal = { id: found.id, role: found.role };
    if (this.recent.size >= AUTH_CACHE_KEYS_MAX) this.recent.clear();
    this.recent.set(key, principal);
    return principal;
  }

  /** Whether the key with this id exists and is not revoked, as of the last read of keys.json. */
  isLive(id: string): boolean {
    return this.liveIds.has(id);
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
