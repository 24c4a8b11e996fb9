// Counters of the POS stream that GET /metrics reads.

export const streamStats = {
  connections: 0, batches: 0, ops: 0, parkedFrames: 0, badFrames: 0,
  /** Connections closed because their reader left too many acks unread (server/stream/send-budget.ts). */
  slowReadersClosed: 0,
};
