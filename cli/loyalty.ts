#!/usr/bin/env node
// The `loyalty` command line: start the server, verify the ledger, and manage API keys, all on
// the data folder named by LOYALTY_DATA (default ./data).
import { configFromEnv } from '../server/config.js';
import { Engine } from '../engine/router/engine.js';
import { KeyStore, ROLES, type Role } from '../server/auth.js';
import { BACKOFFICE_USAGE, runBackoffice } from './backoffice.js';
import { HISTORY_USAGE, runHistory } from './history.js';
import { BACKUP_USAGE, runBackup } from './backup.js';

const USAGE = `usage: loyalty <command>
  start                     run the server (PORT, LOYALTY_DATA, LOYALTY_SHARDS, LOG_LEVEL)
  verify                    recompute every member from the ledger; exit 1 on any mismatch
  keys create --role ROLE   create an API key (${ROLES.join(', ')}) and print it once
  keys list                 list keys (ids and roles; keys themselves are never stored)
  keys revoke ID            revoke a key
${BACKOFFICE_USAGE}
${HISTORY_USAGE}
${BACKUP_USAGE}`;

function fail(message: string): never {
  process.stderr.write(`loyalty: ${message}\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const config = configFromEnv();
  const [command, ...rest] = argv;
  switch (command) {
    case 'start': {
      await import('../server/main.js');
      return;
    }
    case 'verify': {
      const engine = await Engine.open({ dataDir: config.dataDir, shards: config.shards });
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
      const keys = new KeyStore(config.dataDir);
      const [sub, ...args] = rest;
      if (sub === 'create') {
        const i = args.indexOf('--role');
        const role = i === -1 ? undefined : args[i + 1];
        if (role === undefined || !ROLES.includes(role as Role)) fail(`keys create needs --role ${ROLES.join('|')}`);
        process.stdout.write(JSON.stringify(keys.create(role as Role)) + '\n');
      } else if (sub === 'list') {
        process.stdout.write(JSON.stringify(keys.list(), null, 2) + '\n');
      } else if (sub === 'revoke') {
        if (args[0] === undefined) fail('keys revoke needs a key id');
        if (!keys.revoke(args[0])) fail(`no active key with id ${args[0]}`);
        process.stdout.write(`revoked ${args[0]}\n`);
      } else fail(USAGE);
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
    case 'backup':
    case 'restore':
      process.exitCode = await runBackup(config, command, rest);
      return;
    default:
      fail(USAGE);
  }
}

await main(process.argv.slice(2));
