#!/usr/bin/env node
// The `loyalty` command line: start the server, verify the ledger, manage API keys, import and
// export, all on the data folder named by LOYALTY_DATA (default ./data). Exit status: 0 done, 1
// failed (a mismatch, a refused row, a data folder missing or in use), 2 wrong usage.
import { configFromEnv } from '../server/config.js';
import { Engine } from '../engine/router/engine.js';
import { DataFolderError, requireDataFolder } from '../engine/router/data-folder.js';
import { CLUSTER_KEYS_FILE, KeyStore, keysDeploymentOf, ROLES, type Role } from '../server/auth.js';
import { auditByCli } from './audit.js';
import { BACKOFFICE_USAGE, runBackoffice } from './backoffice.js';
import { HISTORY_USAGE, runHistory } from './history.js';
import { runWhatIfCommand, WHAT_IF_USAGE } from './what-if.js';
import { BACKUP_USAGE, runBackup } from './backup.js';
import { CLUSTER_USAGE, runCluster } from './cluster.js';

const USAGE = `usage: loyalty <command>
  start                     run the server (PORT, LOYALTY_DATA, LOYALTY_SHARDS, LOG_LEVEL)
  verify                    recompute every member from the ledger; exit 1 on any mismatch (safe beside a running server)
  keys create --role ROLE   create an API key (${ROLES.join(', ')}) and print it once
  keys list                 list keys (ids and roles; keys themselves are never stored)
  keys revoke ID            revoke a key (a running server refuses it within a second);
                            on a cluster node create and revoke are refused: use the owner's HTTP routes
${BACKOFFICE_USAGE}
${HISTORY_USAGE}
${BACKUP_USAGE}
${CLUSTER_USAGE}
${WHAT_IF_USAGE}
  help, --help, -h          print this

verify, keys, import and export work on an existing data folder, LOYALTY_DATA (default ./data):
only a server start creates one. Exit status: 0 done, 1 failed, 2 wrong usage.`;

function fail(message: string): never {
  process.stderr.write(`loyalty: ${message}\n`);
  process.exit(2);
}

/** `loyalty`, `loyalty help`, and --help or -h anywhere: the usage on stdout, exit 0. */
const wantsHelp = (argv: string[]): boolean => argv.length === 0 || argv[0] === 'help' || argv.includes('--help') || argv.includes('-h');

async function main(argv: string[]): Promise<void> {
  if (wantsHelp(argv)) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const [command, ...rest] = argv;
  // `cluster import` and `cluster trim` read LOYALTY_NATS as a node does but write as no node: they need no LOYALTY_NODE_ID.
  const importing = command === 'cluster' && (rest[0] === 'import' || rest[0] === 'trim') && (process.env['LOYALTY_NATS'] ?? '') !== '' && (process.env['LOYALTY_NODE_ID'] ?? '') === '';
  const config = configFromEnv(importing ? { ...process.env, LOYALTY_NODE_ID: 'import' } : process.env);
  switch (command) {
    case 'start': {
      await import('../server/main.js');
      return;
    }
    case 'verify': {
      // Read-only: safe beside a running server (it takes no lock and writes nothing).
      const engine = await Engine.open({ dataDir: config.dataDir, shards: config.shards, readOnly: true });
      try {
        const report = await engine.verify();
        process.stdout.write(JSON.stringify(report, null, 2) + '\n');
        process.exitCode = report.ok ? 0 : 1;
      } finally {
        await engine.close();
      }
      return;
    }
    case 'keys': {
      requireDataFolder(config.dataDir);
      const keys = new KeyStore(config.dataDir);
      const [sub, ...args] = rest;
      const deployment = keysDeploymentOf(config.dataDir);
      if (deployment !== null && (sub === 'create' || sub === 'revoke')) {
        // The deployment's keys stream is the source of a cluster node's keys: a change here would reach no other node.
        process.stderr.write(`loyalty: this data folder belongs to cluster deployment ${deployment.deployment} (${CLUSTER_KEYS_FILE}): its keys are the deployment's, kept in NATS stream ${deployment.stream}; create and revoke keys on the node that owns the deployment with POST /v1/admin/keys and DELETE /v1/admin/keys/ID\n`);
        process.exitCode = 1;
        return;
      }
      if (sub === 'create') {
        const i = args.indexOf('--role');
        const role = i === -1 ? undefined : args[i + 1];
        if (role === undefined || !ROLES.includes(role as Role)) fail(`keys create needs --role ${ROLES.join('|')}`);
        const created = keys.create(role as Role);
        auditByCli(config.dataDir, 'key.create', created.id, { role: created.role });
        process.stdout.write(JSON.stringify(created) + '\n');
      } else if (sub === 'list') {
        process.stdout.write(JSON.stringify(keys.list(), null, 2) + '\n');
      } else if (sub === 'revoke') {
        if (args[0] === undefined) fail('keys revoke needs a key id');
        const wasRevoked = keys.list().some((k) => k.id === args[0] && k.revoked);
        const revoked = keys.revoke(args[0]);
        if (revoked === null) fail(`no key with id ${args[0]}`);
        if (!wasRevoked) auditByCli(config.dataDir, 'key.revoke', revoked.id, { role: revoked.role });
        // Revoking twice is not an error (as over HTTP): the key is revoked either way.
        process.stdout.write(wasRevoked ? `${args[0]} was revoked already\n` : `revoked ${args[0]}\n`);
      } else fail(`keys needs create, list or revoke\n${USAGE}`);
      return;
    }
    case 'import':
    case 'export':
    case 'sweep':
      process.exitCode = (await runBackoffice(config, command, rest))!;
      return;
    case 'replay':
    case 'log':
      process.exitCode = await runHistory(config, command, rest);
      return;
    case 'what-if':
      process.exitCode = await runWhatIfCommand(config, rest);
      return;
    case 'backup':
    case 'restore':
      process.exitCode = await runBackup(config, command, rest);
      return;
    case 'cluster':
      process.exitCode = await runCluster(config, rest);
      return;
    default:
      fail(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
  }
}

try {
  await main(process.argv.slice(2));
} catch (err) {
  // A folder that is missing or in use by another writer: a clear line and exit 1, not a stack.
  if (!(err instanceof DataFolderError)) throw err;
  process.stderr.write(`loyalty: ${err.message}\n`);
  process.exitCode = 1;
}
