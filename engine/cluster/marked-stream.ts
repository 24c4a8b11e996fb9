// Opening a stream whose writes are all fenced on its last sequence (the owner record, the keys):
// created when it does not exist, and given a first message when it is empty, because NATS 2.9
// does not enforce an expected last sequence of 0, so the first fenced write needs a real sequence
// to be fenced on. Two nodes opening it at once both succeed: the settings are the same, and the
// first message carries one message id, so the stream keeps it once.
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { CLUSTER_APPEND_ATTEMPT_MS, CLUSTER_APPEND_DEADLINE_MS, CLUSTER_APPEND_RETRY_MS } from '../limits.js';

/** The first message of an empty stream: its subject, bytes and message id. */
export interface FirstMessage { subject: string; data: Uint8Array; msgID: string }

/**
 * Creates the stream `config` names if missing and publishes `first` if it is empty. A stream just
 * created has no leader for a moment (its publishes find no responders), and a meta election makes
 * the first requests time out: the opening is tried again meanwhile, until CLUSTER_APPEND_DEADLINE_MS.
 */
export async function openMarkedStream(js: JetStreamClient, jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }, first: FirstMessage): Promise<void> {
  const deadlineMs = Date.now() + CLUSTER_APPEND_DEADLINE_MS;
  for (;;) {
    try {
      let lastSeq: number;
      try {
        lastSeq = (await jsm.streams.info(config.name)).state.last_seq;
      } catch (err) {
        if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
        lastSeq = (await jsm.streams.add(config)).state.last_seq;
      }
      if (lastSeq === 0) await js.publish(first.subject, first.data, { msgID: first.msgID, timeout: CLUSTER_APPEND_ATTEMPT_MS });
      return;
    } catch (err) {
      if (Date.now() + CLUSTER_APPEND_RETRY_MS > deadlineMs) throw err;
      await new Promise((resolve) => setTimeout(resolve, CLUSTER_APPEND_RETRY_MS));
    }
  }
}
