// This node's part in a cluster deployment (docs/cluster.md): it watches the owner record and,
// once it holds it, turns its standby engine into the writer and answers what other nodes forward
// to it; until then it forwards requests and stream batches to the owner (server/cluster-forward.ts),
// and refuses them with not_owner while no owner is known. An owner that finds another node's
// record where its own was, or whose shard's stream refused an append, steps down in place at once:
// every write not answered gets a retryable refusal, the shards stand by again (a copy holding a
// commit the stream replaced is rebuilt from the stream, in this process) and the node forwards to
// the new owner; only when that step-down fails does it stop the process. An operator drains a
// node (`drain`): an owner steps down without stopping, in-flight writes answered, and gives the
// record up to a standby; a drained node forwards and claims nothing until `undrain`.
import { writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { ClusterConfig } from '../engine/cluster/config.js';
import { CLAIM_DEFERRED, OwnerElection } from '../engine/cluster/owner-election.js';
import { OwnerLease, type OwnerRecord } from '../engine/cluster/owner-lease.js';
import { LoyaltyError } from '../engine/errors.js';
import { CLUSTER_APPEND_ATTEMPT_MS, CLUSTER_CLAIM_LAG_ENTRIES_MAX, CLUSTER_NODES_ANSWER_MS } from '../engine/limits.js';
import { Forwarder, serveForwarded } from './cluster-forward.js';
import type { Api } from './routes.js';
import type { Lifecycle } from './http.js';
import type { Logger } from './log.js';

/** What a node says of itself: `GET /v1/admin/cluster` and the answer to another node's roll call. */
export type NodeRole = 'owner' | 'standby' | 'drained';

export interface NodeView { nodeId: string; role: NodeRole; httpAddress: string }

/** This node's part in the deployment as `GET /v1/admin/cluster` answers it. */
export interface ClusterStatus {
  nodeId: string;
  role: NodeRole;
  /** The owner record as this node read it last: who owns, in which term, where (null before the first read). */
  owner: OwnerRecord | null;
  /** The nodes that answered a roll call just now, this one included, by node id. */
  nodes: NodeView[];
}

/** What the admin routes ask of this node (server/routes.ts). */
export interface ClusterControl {
  status(): Promise<ClusterStatus>;
  drain(): Promise<ClusterStatus>;
  undrain(): Promise<ClusterStatus>;
}

export interface ClusterNode extends ClusterControl {
  /** Whether this node owns the deployment and its engine writes. */
  readonly owning: boolean;
  /** Stops watching and renewing; after the engine closed, gives the record up so that a standby takes over at once. */
  stop(): void;
  release(): Promise<void>;
}

/** The subject every node of a deployment answers a roll call on, with its NodeView. */
const nodesSubject = (deployment: string) => `loyalty.${deployment}.nodes`;

/** The address written in the owner record: LOYALTY_HTTP_ADDRESS, else this machine's name and the port listened on. */
export function advertisedAddress(configured: string | null, host: string, port: number): string {
  if (configured !== null) return configured;
  const named = host === '0.0.0.0' || host === '::' ? hostname() : host;
  return `http://${named.includes(':') ? `[${named}]` : named}:${port}`;
}

function standbyMessage(me: string, record: OwnerRecord, drained: boolean): string {
  if (drained && record.nodeId === '') return `this node (${me}) is drained and hands the deployment over: another node takes it over within a second; resend shortly`;
  if (record.nodeId === '') return `this node (${me}) stands by: no node owns the deployment yet; one takes it over within seconds`;
  return `this node (${me}) stands by: node ${record.nodeId} owns the deployment (term ${record.term}) at ${record.httpAddress}; send requests there`;
}

/**
 * Joins the deployment: connects to NATS, opens the owner record and starts the election.
 * `becameOwner` runs once the engine took the shards over (the sweep and webhook deliveries start there).
 */
export async function joinCluster(cluster: ClusterConfig, httpAddress: string, api: Api, lifecycle: Lifecycle, log: Logger, becameOwner: () => void, steppedDown: () => Promise<void>): Promise<ClusterNode> {
  const engine = api.engine;
  const nc: NatsConnection = await connect({
    servers: cluster.servers, name: `loyalty-${cluster.nodeId}-owner-record`, reconnect: true,
    maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: CLUSTER_APPEND_ATTEMPT_MS, noRandomize: false,
  });
  const stopNow = (msg: string, detail: Record<string, unknown>): never => {
    log.fatal(detail, msg);
    writeSync(2, `loyalty: ${msg}\n`);
    // At once, as a shard that lost its fence does: no batch in flight may be answered after this.
    process.kill(process.pid, 'SIGKILL');
    throw new Error(msg);
  };
  let owning = false;
  /** Set from the `won` event until the engine took the shards over (or failed to). */
  let takingOver = false;
  /** The unplanned step-down under way, if any: a second cause meanwhile joins it. */
  let steppingDown: Promise<void> | null = null;
  let lastTrouble = '';
  const forwarder = new Forwarder(nc, cluster.deployment, cluster.nodeId);
  lifecycle.forwarder = forwarder;
  let serving: { stop(): void } | null = null;
  const lease = await OwnerLease.open(nc, cluster.deployment);
  const election = new OwnerElection(lease, { nodeId: cluster.nodeId, httpAddress }, {
    standby: (record) => {
      lifecycle.notOwner = standbyMessage(cluster.nodeId, record, election.drained);
      forwarder.owner = record.nodeId === '' || record.nodeId === cluster.nodeId ? null : record;
      log.info({ nodeId: cluster.nodeId, owner: record.nodeId, term: record.term, ownerAddress: record.httpAddress }, 'cluster: this node stands by');
    },
    won: (term) => {
      const startedMs = performance.now();
      takingOver = true;
      lifecycle.notOwner = `this node (${cluster.nodeId}) is taking the deployment over (term ${term}); retry shortly`;
      forwarder.owner = null;
      log.info({ nodeId: cluster.nodeId, term }, 'cluster: this node holds the owner record; taking the shards over');
      // A step-down still under way (this node was the owner a moment ago) ends first: the shards take over from standing by.
      (steppingDown ?? Promise.resolve()).then(() => engine.takeOver(term)).then(() => {
        takingOver = false;
        owning = true;
        // Other nodes forward to this node's id and term from the record's next read on; a node
        // that owned an earlier term listens on that term's subjects, which no one sends to any more.
        serving = serveForwarded(nc, cluster.deployment, { nodeId: cluster.nodeId, term, httpAddress }, api, lifecycle);
        lifecycle.notOwner = null;
        becameOwner();
        log.info({ nodeId: cluster.nodeId, term, takeOverMs: Math.round(performance.now() - startedMs) }, 'cluster: this node owns the deployment');
      }, (err: unknown) => stopNow('cluster: the takeover failed: stopping the process (restarted, it stands by again)', { err, term }));
    },
    lost: (record) => {
      const why = `node ${record.nodeId} owns the deployment now (term ${record.term})`;
      // Said even when a refused append began the step-down first: the operator sees who owns now.
      log.info({ nodeId: cluster.nodeId, owner: record.nodeId, term: record.term }, `cluster: ${why}: this node's renewal was refused`);
      void stepDownInPlace(why, record);
    },
    trouble: (err) => {
      const message = err instanceof Error ? err.message : String(err);
      if (message === lastTrouble) return;
      lastTrouble = message;
      log.warn({ err }, 'cluster: the owner record could not be read or renewed; trying again');
    },
    deferring: (lagEntries, waitMs) => {
      log.info({ nodeId: cluster.nodeId, lagEntries, waitMs, lagEntriesMax: CLUSTER_CLAIM_LAG_ENTRIES_MAX }, `cluster: ${CLAIM_DEFERRED}`);
    },
  }, undefined, () => engine.standbyLagEntries());
  // A shard's stream refused an append: another node wrote it. One node owns the whole deployment,
  // so the whole node steps down, whichever shard found out.
  engine.onStale = (reason) => {
    void stepDownInPlace(`a shard's stream refused this node's append (${reason})`, null);
  };
  const role = (): NodeRole => (owning ? 'owner' : election.drained ? 'drained' : 'standby');
  // Every node answers a roll call with what it is, so that an owner drains only when a standby
  // is there to take over, and an operator sees the deployment's nodes from any of them.
  const rollCall = nc.subscribe(nodesSubject(cluster.deployment), {
    callback: (err, msg) => {
      if (err !== null) return;
      const view: NodeView = { nodeId: cluster.nodeId, role: role(), httpAddress };
      try { msg.respond(new TextEncoder().encode(JSON.stringify(view))); } catch { /* the asker times out on this node */ }
    },
  });
  const nodes = async (): Promise<NodeView[]> => {
    const views: NodeView[] = [];
    const answers = await nc.requestMany(nodesSubject(cluster.deployment), new Uint8Array(0), { strategy: 'timer', maxWait: CLUSTER_NODES_ANSWER_MS });
    for await (const msg of answers) {
      try { views.push(msg.json<NodeView>()); } catch { /* a malformed answer names no node */ }
    }
    return views.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  };
  const status = async (): Promise<ClusterStatus> => ({ nodeId: cluster.nodeId, role: role(), owner: election.record, nodes: await nodes() });
  /** One drain or undrain at a time: a second asked meanwhile waits for the first and then sees its outcome. */
  let changing: Promise<unknown> = Promise.resolve();
  const oneAtATime = (work: () => Promise<ClusterStatus>): Promise<ClusterStatus> => {
    const next = changing.then(work);
    changing = next.catch(() => undefined);
    return next;
  };

  const stepDown = async (): Promise<void> => {
    const others = (await nodes()).filter((n) => n.nodeId !== cluster.nodeId && n.role === 'standby');
    if (others.length === 0) throw new LoyaltyError('no_standby', `no other node of deployment ${cluster.deployment} stands by (none answered within ${CLUSTER_NODES_ANSWER_MS} ms, or all are drained): this node (${cluster.nodeId}) keeps the deployment`);
    const startedMs = performance.now();
    // From here on new requests and batches get a retryable answer (not_owner over HTTP, overloaded
    // on a stream and to forwarding nodes): clients resend them, and they reach the next owner.
    election.drain();
    lifecycle.notOwner = `this node (${cluster.nodeId}) is being drained: it hands the deployment over to another node within a second; resend shortly`;
    forwarder.owner = null;
    log.info({ nodeId: cluster.nodeId, standbys: others.map((n) => n.nodeId) }, 'cluster: draining this node: its writes in flight finish, then it hands the deployment over');
    try {
      await engine.stepDown();
    } catch (err) {
      // The shards are in an unknown state: only a stop makes sure none writes after the record moves.
      stopNow('cluster: the step-down failed: stopping the process (restarted, it stands by)', { err });
    }
    owning = false;
    serving?.stop();
    serving = null;
    await steppedDown();
    // Only now may another node own: no shard of this node writes any more, and each one's last entry is in its stream.
    await election.giveUp();
    log.info({ nodeId: cluster.nodeId, stepDownMs: Math.round(performance.now() - startedMs) }, 'cluster: this node is drained: it gave the owner record up and forwards to the next owner');
  };

  /**
   * An unplanned step-down, in place (docs/cluster.md, "Writing: the fence"): this node learnt that
   * another node owns the deployment (`record`, from a refused renewal) or wrote a shard's stream (a
   * refused append). At once, nothing more is answered as done: new requests get not_owner (or are
   * forwarded to the new owner once it is known), and every write taken and not answered gets a
   * retryable refusal (Engine.stepDown with `stale`); the shards then stand by, rebuilding a copy
   * that holds a commit another owner's entries replaced. Forwarded requests are no longer served
   * as owner, and sweeps and webhook deliveries stop. A record still held is given up, so that a
   * standby claims it at once. Anything of this that fails stops the process, as before.
   */
  const stepDownInPlace = (why: string, record: OwnerRecord | null): Promise<void> => {
    if (steppingDown !== null) {
      // A refused append began the step-down; the refused renewal names the owner to forward to.
      if (record !== null && record.nodeId !== '' && record.nodeId !== cluster.nodeId) {
        forwarder.owner = record;
        lifecycle.notOwner = standbyMessage(cluster.nodeId, record, false);
      }
      return steppingDown;
    }
    if (takingOver) {
      // The shards are between standing by and owning: only a stop makes sure none writes.
      return Promise.resolve(stopNow(`cluster: ${why} while this node took the deployment over: stopping the process (restarted, it stands by)`, { nodeId: cluster.nodeId }));
    }
    if (!owning) return Promise.resolve();
    const startedMs = performance.now();
    owning = false;
    forwarder.owner = record !== null && record.nodeId !== '' && record.nodeId !== cluster.nodeId ? record : null;
    lifecycle.notOwner = record !== null && forwarder.owner !== null ? standbyMessage(cluster.nodeId, record, false)
      : `this node (${cluster.nodeId}) no longer owns the deployment: another node takes it over within seconds; resend shortly`;
    serving?.stop();
    serving = null;
    log.warn({ nodeId: cluster.nodeId, owner: record?.nodeId, term: record?.term }, `cluster: ${why}: this node steps down at once and stands by; writes not answered are refused as retryable`);
    steppingDown = (async () => {
      try {
        await engine.stepDown({ stale: true });
        await steppedDown();
        await election.resign();
      } catch (err) {
        stopNow(`cluster: ${why}, and the step-down failed: stopping the process (restarted, it stands by and rebuilds its copy from the streams if it holds a commit they do not)`, { err, nodeId: cluster.nodeId });
      }
      log.info({ nodeId: cluster.nodeId, stepDownMs: Math.round(performance.now() - startedMs) }, 'cluster: this node stepped down: its shards stand by and it forwards to the owner');
    })().finally(() => { steppingDown = null; });
    return steppingDown;
  };

  election.start();
  return {
    get owning() { return owning; },
    status,
    drain: () => oneAtATime(async () => {
      if (election.drained) return status();
      if (owning) await stepDown();
      else if (election.holding !== null) throw new LoyaltyError('overloaded', `this node (${cluster.nodeId}) is taking the deployment over; ask again once it owns it`);
      else {
        election.drain();
        log.info({ nodeId: cluster.nodeId }, 'cluster: this node is drained: it stands by and will not take the deployment over until undrained');
      }
      return status();
    }),
    undrain: () => oneAtATime(async () => {
      if (election.drained) {
        election.undrain();
        log.info({ nodeId: cluster.nodeId }, 'cluster: this node is undrained: it takes the deployment over again when the owner stops');
      }
      return status();
    }),
    stop: () => election.stop(),
    async release() {
      rollCall.unsubscribe();
      serving?.stop();
      await election.release().catch((err: unknown) => log.warn({ err }, 'cluster: the owner record could not be given up; it expires by itself'));
      await nc.close();
    },
  };
}
