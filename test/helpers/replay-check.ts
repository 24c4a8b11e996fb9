// Runs `loyalty replay --check` on a data folder as a user would (the built command, in its own
// process) and returns its exit status and JSON report. Any suite that leaves a data folder
// behind (the deterministic simulator included) proves its history replays with
// expectReplayEqualsLive(dataDir).
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ROOT } from './server-process.js';
import type { ReplayCheckReport } from '../../engine/history/replay-check.js';

/** A replay check's outcome: the exit status, the report (null when it could not run) and stderr. */
export interface ReplayCheckRun { status: number | null; report: ReplayCheckReport | null; stderr: string }

const REPLAY_CHECK_TIMEOUT_MS = 120_000;

/** Runs the `loyalty` command with `args` on `dataDir`. */
export function loyaltyCli(dataDir: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), ...args], {
    env: { ...process.env, LOYALTY_DATA: dataDir }, encoding: 'utf8', timeout: REPLAY_CHECK_TIMEOUT_MS,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `loyalty replay --check --data DIR [extra flags]`. */
export function runReplayCheck(dataDir: string, ...extra: string[]): ReplayCheckRun {
  const r = loyaltyCli(dataDir, 'replay', '--check', '--data', dataDir, ...extra);
  let report: ReplayCheckReport | null = null;
  try { report = JSON.parse(r.stdout) as ReplayCheckReport; } catch { /* no report: it could not run */ }
  return { status: r.status, report, stderr: r.stderr };
}

/** The same, without blocking this process's event loop (a server or terminals of the test keep running meanwhile). */
export function runReplayCheckAsync(dataDir: string, ...extra: string[]): Promise<ReplayCheckRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'dist/cli/loyalty.js'), 'replay', '--check', '--data', dataDir, ...extra], {
      env: { ...process.env, LOYALTY_DATA: dataDir }, encoding: 'utf8', timeout: REPLAY_CHECK_TIMEOUT_MS,
    }, (err, stdout, stderr) => {
      let report: ReplayCheckReport | null = null;
      try { report = JSON.parse(stdout) as ReplayCheckReport; } catch { /* no report: it could not run */ }
      const status = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null;
      resolve({ status, report, stderr });
    });
  });
}

/**
 * Asserts that every shard of `dataDir` replays from its log to exactly the live data: exit 0,
 * every checksum equal, no database different. Returns the report for further figures.
 */
export function expectReplayEqualsLive(dataDir: string, ...extra: string[]): ReplayCheckReport {
  const run = runReplayCheck(dataDir, ...extra);
  expect(run.report, run.stderr).not.toBeNull();
  expect(run.report!.error).toBeNull();
  expect(run.report!.differences).toEqual([]);
  expect(run.report!.ok).toBe(true);
  expect(run.status).toBe(0);
  return run.report!;
}
