// The size and SHA-256 of a file, read in bounded chunks: what a backup's manifest records for each
// of its files and what a restore checks them against (copying and hashing in one pass).
// Synchronous, for a thread of its own (the backup runs it in backup-seal-worker.ts, off the main
// thread; the restore is a command of its own).
import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { BACKUP_HASH_CHUNK_BYTES } from '../limits.js';
import type { FileDigest } from '../shard-protocol.js';

/** The file's size and SHA-256. */
export function digestFileSync(path: string): FileDigest {
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(BACKUP_HASH_CHUNK_BYTES);
  const fd = openSync(path, 'r');
  let bytes = 0;
  try {
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      hash.update(chunk.subarray(0, n));
      bytes += n;
    }
  } finally {
    closeSync(fd);
  }
  return { bytes, sha256: hash.digest('hex') };
}

/**
 * Copies `from` to the new file `to` (created with `mode`, fsynced) and answers the size and
 * SHA-256 of the bytes copied, so a restore checks what it wrote against the manifest in one read.
 */
export function copyFileDigestSync(from: string, to: string, mode: number): FileDigest {
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(BACKUP_HASH_CHUNK_BYTES);
  const src = openSync(from, 'r');
  let bytes = 0;
  try {
    const dst = openSync(to, 'wx', mode);
    try {
      for (;;) {
        const n = readSync(src, chunk, 0, chunk.length, null);
        if (n === 0) break;
        hash.update(chunk.subarray(0, n));
        for (let off = 0; off < n;) off += writeSync(dst, chunk, off, n - off);
        bytes += n;
      }
      fsyncSync(dst);
    } finally {
      closeSync(dst);
    }
  } finally {
    closeSync(src);
  }
  return { bytes, sha256: hash.digest('hex') };
}
