// What the streams make the server buffer for their readers: each connection's unsent acks, and
// their sum over every connection, each with its bound. A connection past its own bound, or the
// connections holding the most while the sum is past the total bound, are to be closed: a reader
// that slow gets its acks again by resending its unacked batches, which replay.

export class SendBudget<C> {
  private readonly held = new Map<C, number>();
  private total = 0;

  constructor(private readonly connectionBytesMax: number, private readonly totalBytesMax: number) {}

  /** Bytes buffered over every connection. */
  get totalBytes(): number {
    return this.total;
  }

  /**
   * Records what `conn` now holds buffered (after a send, or as it drains) and answers the
   * connections to close: `conn` itself past its own bound, then, while the sum is past the total
   * bound, the ones holding the most. Those answered are no longer counted.
   */
  update(conn: C, bufferedBytes: number): C[] {
    this.total += bufferedBytes - (this.held.get(conn) ?? 0);
    this.held.set(conn, bufferedBytes);
    const close: C[] = [];
    if (bufferedBytes > this.connectionBytesMax) { this.remove(conn); close.push(conn); }
    if (this.total > this.totalBytesMax) {
      // Rare (many slow readers at once): the largest holders go first, until the sum fits.
      const largest = [...this.held].sort((a, b) => b[1] - a[1]);
      for (const [c] of largest) {
        if (this.total <= this.totalBytesMax) break;
        this.remove(c);
        close.push(c);
      }
    }
    return close;
  }

  /** A closed connection holds nothing any more. */
  remove(conn: C): void {
    this.total -= this.held.get(conn) ?? 0;
    this.held.delete(conn);
  }
}
