// Which shard owns a member: the member id's hash modulo the shard count, fixed when the data
// folder is created, so the hash must never change between versions.
/** FNV-1a over the id's UTF-16 code units: stable across processes and versions. */
export function hashId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
