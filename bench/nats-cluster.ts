// Three nats-server processes with JetStream, clustered on loopback, for the tests of cluster mode
// and bench/cluster.ts: random free ports, one store folder each, started and stopped by process id
// (a single server can be killed with SIGKILL and started again on the same ports and folder, as a
// crashed machine that comes back).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { CLUSTER_LOG_VALUE_BYTES_MAX } from '../engine/limits.js';
import { freePort } from './free-port.js';

/** Where Debian's package puts the server; PATH is searched too. */
const NATS_SERVER_CANDIDATES = ['/usr/sbin/nats-server', '/usr/bin/nats-server'];

/** The nats-server binary, or null when none is installed. */
export function natsServerBin(): string | null {
  for (const path of NATS_SERVER_CANDIDATES) if (existsSync(path)) return path;
  const which = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  const found = which.stdout.trim();
  return which.status === 0 && found !== '' ? found : null;
}

/** How long the cluster may take to elect its JetStream meta leader. */
const CLUSTER_READY_TIMEOUT_MS = 30_000;
/** How long one server may take to stop after SIGTERM before it is killed. */
const SERVER_STOP_TIMEOUT_MS = 5_000;
const POLL_INTERVAL_MS = 100;
/** Starts tried when a port was taken between finding it free and nats-server binding it. */
const PORT_CLASH_ATTEMPTS_MAX = 3;
/** The stream waitReady creates and deletes to prove the cluster places replicated streams. */
const READY_PROBE_STREAM = 'LOYALTY_READY_PROBE';

/** One server of the cluster: its ports, its folder and its process while it runs. */
export interface NatsNode {
  name: string;
  clientPort: number;
  clusterPort: number;
  monitorPort: number;
  storeDir: string;
  configFile: string;
  child: ChildProcess | null;
  log: string[];
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class NatsCluster {
  readonly nodes: NatsNode[] = [];

  private constructor(readonly dir: string, private readonly bin: string) {}

  /**
   * Starts `size` servers (three by default) and waits until JetStream answers on every one. A port
   * freePort found can be taken by another test's server before nats-server binds it (seen once in
   * CI: "bind: address already in use"): the cluster is then started again on new ports, a few times.
   */
  static async start(size = 3): Promise<NatsCluster> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await NatsCluster.startOnce(size);
      } catch (err) {
        if (attempt >= PORT_CLASH_ATTEMPTS_MAX || !String(err).includes('address already in use')) throw err;
      }
    }
  }

  private static async startOnce(size: number): Promise<NatsCluster> {
    const bin = natsServerBin();
    if (bin === null) throw new Error('nats-server is not installed (Debian package nats-server)');
    const cluster = new NatsCluster(mkdtempSync(join(tmpdir(), 'loyalty-nats-')), bin);
    try {
      for (let i = 0; i < size; i++) {
        const name = `n${i + 1}`;
        const storeDir = join(cluster.dir, name);
        mkdirSync(storeDir);
        cluster.nodes.push({
          name, clientPort: await freePort(), clusterPort: await freePort(), monitorPort: await freePort(),
          storeDir, configFile: join(cluster.dir, `${name}.conf`), child: null, log: [],
        });
      }
      for (const node of cluster.nodes) cluster.writeConfig(node);
      for (let i = 0; i < size; i++) cluster.startNode(i);
      await cluster.waitReady();
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** The client URLs of every server, for a connection that fails over between them. */
  get servers(): string[] {
    return this.nodes.map((n) => `nats://127.0.0.1:${n.clientPort}`);
  }

  /** Options are passed explicitly: reconnecting forever, quickly, to any server of the cluster. */
  connect(name: string): Promise<NatsConnection> {
    return connect({
      servers: this.servers, name, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 100,
      timeout: 5_000, noRandomize: false,
    });
  }

  private writeConfig(node: NatsNode): void {
    const routes = this.nodes.filter((n) => n !== node).map((n) => `nats-route://127.0.0.1:${n.clusterPort}`);
    writeFileSync(node.configFile, [
      `server_name: ${node.name}`,
      `listen: 127.0.0.1:${node.clientPort}`,
      `http: 127.0.0.1:${node.monitorPort}`,
      `max_payload: ${CLUSTER_LOG_VALUE_BYTES_MAX}`,
      `jetstream { store_dir: "${node.storeDir}", max_memory_store: 64MB, max_file_store: 1GB }`,
      `cluster { name: loyalty-loopback, listen: 127.0.0.1:${node.clusterPort}, routes: [${routes.join(', ')}] }`,
      '',
    ].join('\n'));
  }

  /** Starts server `i` (again, after a kill: same ports, same store folder). */
  startNode(i: number): void {
    const node = this.nodes[i]!;
    if (node.child !== null) throw new Error(`nats server ${node.name} is already running`);
    const child = spawn(this.bin, ['-c', node.configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => { if (node.log.length < 2_000) node.log.push(d.toString()); });
    child.once('exit', () => { if (node.child === child) node.child = null; });
    node.child = child;
  }

  /** Kills server `i` with SIGKILL, as a crash, and waits until its process is gone. */
  async kill(i: number): Promise<void> {
    const child = this.nodes[i]!.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid!, 'SIGKILL');
    await exited;
  }

  /** Waits until every running server reports itself healthy and JetStream places a stream on all of them. */
  async waitReady(timeoutMs = CLUSTER_READY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const node of this.nodes) {
      if (node.child === null) continue;
      for (;;) {
        if (await this.healthy(node)) break;
        if (node.child === null) throw new Error(`nats server ${node.name} exited: ${node.log.join('').slice(-2_000)}`);
        if (Date.now() > deadline) throw new Error(`nats server ${node.name} not healthy after ${timeoutMs} ms: ${node.log.join('').slice(-2_000)}`);
        await delay(POLL_INTERVAL_MS);
      }
    }
    const nc = await this.connect('loyalty-ready-probe');
    try {
      const jsm = await jetstreamManager(nc, { timeout: 2_000 });
      // A meta leader is not enough: a stream of as many replicas as servers run is placed only once
      // the leader counts every server current ("no suitable peers for placement" before).
      const replicas = this.nodes.filter((n) => n.child !== null).length;
      for (;;) {
        try {
          await jsm.streams.add({ name: READY_PROBE_STREAM, subjects: [READY_PROBE_STREAM], num_replicas: replicas, storage: StorageType.Memory });
          await jsm.streams.delete(READY_PROBE_STREAM);
          return;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`JetStream does not place a ${replicas}-replica stream after ${timeoutMs} ms: ${String(err)}`);
          await delay(POLL_INTERVAL_MS);
        }
      }
    } finally {
      await nc.close();
    }
  }

  /** The monitoring endpoint's health check (JetStream current included), false while it cannot answer. */
  private async healthy(node: NatsNode): Promise<boolean> {
    try {
      const reply = await fetch(`http://127.0.0.1:${node.monitorPort}/healthz`, { signal: AbortSignal.timeout(1_000) });
      return reply.ok;
    } catch {
      return false;
    }
  }

  /** Stops every server by its process id (SIGTERM, then SIGKILL after a grace time) and removes the folders. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map(async (node) => {
      const child = node.child;
      if (child === null || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      process.kill(child.pid!, 'SIGTERM');
      const timer = setTimeout(() => { if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL'); }, SERVER_STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
