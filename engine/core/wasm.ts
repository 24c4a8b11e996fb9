// Loads the WASM core (build/core.wasm) for a shard worker and encodes a Program into its records.
// The shard writes members and ops into the Float64Array views, calls run(opCount) once per batch
// and reads members and results back: one boundary crossing per batch, no strings, no BigInt.

import { readFileSync } from 'node:fs';
import { packageRoot } from './package-root.js';
import { join } from 'node:path';
import {
  NONE, P_TIER_COUNT, P_QUALIFY_BY, P_MEMBERSHIP_DAYS, P_CARRY_FORWARD, P_ORDER_POINTS,
  P_GROWTH_POINTS, P_GROWTH_GROWTH, P_MAX_WALLET_SPEND_CENTS,
  P_MIN_TOPUP_CENTS, P_TOPUP_BONUS_COUNT, P_ALLOW_NEGATIVE_POINTS, P_POINTS_PENDING, P_HEADER_SLOTS,
  T_THRESHOLD, T_EARN_CENTS, T_EARN_POINTS, T_REDEEM_POINTS, T_REDEEM_CENTS, T_DISCOUNT_BPS,
  T_RETAIN_THRESHOLD, T_EXPRESS_UPGRADE_CENTS, T_UPGRADE_BONUS_POINTS, T_RENEWAL_BONUS_POINTS,
  T_SLOTS, TIERS_MAX, TOPUP_BASE, B_MIN_CENTS, B_BONUS_CENTS, B_SLOTS, TOPUP_BONUSES_MAX,
  PROGRAM_SLOTS, M_SLOTS, O_SLOTS, R_SLOTS, CORE_OPS_MAX, CORE_MEMBERS_MAX,
} from './layout.js';
import type { Program } from '../rules/program-types.js';

// The project's lib (ES2023, no DOM) declares no WebAssembly types: these are the parts used here.
interface WasmMemory { readonly buffer: ArrayBuffer }
type WasmModule = object;
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { readonly exports: object };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** What build/core.wasm exports (assembly/index.ts). */
interface CoreExports {
  memory: WasmMemory;
  programPtr(): number;
  membersPtr(): number;
  opsPtr(): number;
  resultsPtr(): number;
  run(opCount: number): void;
}

/** The path of build/core.wasm, found from this module both as engine/core/wasm.ts and as dist/engine/core.js. */
export function coreWasmPath(): string {
  return join(packageRoot(import.meta.url), 'build', 'core.wasm');
}

// Compiled once per thread; every Core on the thread gets its own instance and memory.
let compiled: WasmModule | undefined;

function compiledCore(): WasmModule {
  compiled ??= new wasm.Module(readFileSync(coreWasmPath()));
  return compiled;
}

/** Reads an AssemblyScript string (UTF-16, byte length in the four bytes before it) from memory. */
function readAsString(memory: WasmMemory, ptr: number): string {
  if (ptr < 4 || ptr >= memory.buffer.byteLength) return '?';
  const bytes = new DataView(memory.buffer).getUint32(ptr - 4, true);
  if (ptr + bytes > memory.buffer.byteLength) return '?';
  return Buffer.from(memory.buffer, ptr, bytes).toString('utf16le');
}

/** One instance of the WASM core with typed views over its four record regions. */
export class Core {
  readonly #exports: CoreExports;
  #buffer: ArrayBuffer | undefined;
  #program!: Float64Array;
  #members!: Float64Array;
  #ops!: Float64Array;
  #results!: Float64Array;

  constructor() {
    let memory: WasmMemory | undefined;
    const imports = {
      env: {
        // A failed core assertion is a broken invariant: it stops the batch with the core's own words.
        abort(messagePtr: number, filePtr: number, line: number, column: number): never {
          const where = memory ? `${readAsString(memory, filePtr)}:${line}:${column}` : `${line}:${column}`;
          const message = memory ? readAsString(memory, messagePtr) : 'assertion failed';
          throw new Error(`core assertion failed: ${message} (${where})`);
        },
      },
    };
    const instance = new wasm.Instance(compiledCore(), imports);
    this.#exports = instance.exports as unknown as CoreExports;
    memory = this.#exports.memory;
    this.#refreshViews();
  }

  /**
   * Views die when memory grows (the core never grows it, but a stale view would fail silently).
   * A view whose memory grew is detached and reads as empty: the getters check that, a length read,
   * rather than asking the memory for its buffer on every access (a call into V8's runtime that
   * took 0.1-0.25 µs per stream purchase in the shard thread's profile, at five or six accesses each).
   */
  #refreshViews(): void {
    const buffer = this.#exports.memory.buffer;
    if (buffer === this.#buffer) return;
    this.#buffer = buffer;
    this.#program = new Float64Array(buffer, this.#exports.programPtr(), PROGRAM_SLOTS);
    this.#members = new Float64Array(buffer, this.#exports.membersPtr(), CORE_MEMBERS_MAX * M_SLOTS);
    this.#ops = new Float64Array(buffer, this.#exports.opsPtr(), CORE_OPS_MAX * O_SLOTS);
    this.#results = new Float64Array(buffer, this.#exports.resultsPtr(), CORE_OPS_MAX * R_SLOTS);
  }

  /** The program record (PROGRAM_SLOTS slots); fill it with encodeProgram. */
  get program(): Float64Array { if (this.#program.length === 0) this.#refreshViews(); return this.#program; }
  /** CORE_MEMBERS_MAX member records of M_SLOTS slots. */
  get members(): Float64Array { if (this.#members.length === 0) this.#refreshViews(); return this.#members; }
  /** CORE_OPS_MAX op records of O_SLOTS slots. */
  get ops(): Float64Array { if (this.#ops.length === 0) this.#refreshViews(); return this.#ops; }
  /** CORE_OPS_MAX result records of R_SLOTS slots; record k answers op k of the last run. */
  get results(): Float64Array { if (this.#results.length === 0) this.#refreshViews(); return this.#results; }

  /** Applies ops 0..opCount-1 to their member slots in order. */
  run(opCount: number): void {
    if (!(Number.isInteger(opCount) && opCount >= 0 && opCount <= CORE_OPS_MAX)) {
      throw new RangeError(`core: opCount ${opCount} outside 0..${CORE_OPS_MAX}`);
    }
    this.#exports.run(opCount);
  }
}

/** A new core instance on this thread. */
export function loadCore(): Core {
  return new Core();
}

const QUALIFY_BY = { spend: 0, growth: 1 } as const;
const CARRY_FORWARD = { excess: 0, all: 1, none: 2 } as const;

/** Writes a validated program into a program record (at least PROGRAM_SLOTS long), zeroing it first. */
export function encodeProgram(program: Program, out: Float64Array): void {
  if (out.length < PROGRAM_SLOTS) throw new RangeError(`core: program record needs ${PROGRAM_SLOTS} slots, got ${out.length}`);
  const { tiers } = program;
  const bonuses = [...program.wallet.topupBonuses].sort((a, b) => a.minCents - b.minCents);
  if (tiers.length < 1 || tiers.length > TIERS_MAX) throw new RangeError(`core: ${tiers.length} tiers, expected 1..${TIERS_MAX}`);
  if (bonuses.length > TOPUP_BONUSES_MAX) throw new RangeError(`core: ${bonuses.length} top-up bonuses, at most ${TOPUP_BONUSES_MAX}`);

  out.fill(0, 0, PROGRAM_SLOTS);
  out[P_TIER_COUNT] = tiers.length;
  out[P_QUALIFY_BY] = QUALIFY_BY[program.qualifyBy];
  out[P_MEMBERSHIP_DAYS] = program.membershipDays ?? NONE;
  out[P_CARRY_FORWARD] = CARRY_FORWARD[program.carryForward];
  out[P_ORDER_POINTS] = program.orderPoints;
  out[P_GROWTH_POINTS] = program.growth.points;
  out[P_GROWTH_GROWTH] = program.growth.growth;
  out[P_MAX_WALLET_SPEND_CENTS] = program.wallet.maxSpendCentsPerOrder ?? NONE;
  out[P_MIN_TOPUP_CENTS] = program.wallet.minTopupCents;
  out[P_TOPUP_BONUS_COUNT] = bonuses.length;
  out[P_ALLOW_NEGATIVE_POINTS] = program.allowNegativePoints ? 1 : 0;
  out[P_POINTS_PENDING] = program.pointsPendingDays > 0 ? 1 : 0;
  tiers.forEach((tier, i) => {
    const t = P_HEADER_SLOTS + i * T_SLOTS;
    out[t + T_THRESHOLD] = tier.threshold;
    out[t + T_EARN_CENTS] = tier.earn.cents;
    out[t + T_EARN_POINTS] = tier.earn.points;
    out[t + T_REDEEM_POINTS] = tier.redeem.points;
    out[t + T_REDEEM_CENTS] = tier.redeem.cents;
    out[t + T_DISCOUNT_BPS] = tier.discountBps;
    out[t + T_RETAIN_THRESHOLD] = tier.retainThreshold ?? tier.threshold;
    out[t + T_EXPRESS_UPGRADE_CENTS] = tier.expressUpgradeCents ?? NONE;
    out[t + T_UPGRADE_BONUS_POINTS] = tier.upgradeBonusPoints;
    out[t + T_RENEWAL_BONUS_POINTS] = tier.renewalBonusPoints;
  });
  bonuses.forEach((bonus, j) => {
    const b = TOPUP_BASE + j * B_SLOTS;
    out[b + B_MIN_CENTS] = bonus.minCents;
    out[b + B_BONUS_CENTS] = bonus.bonusCents;
  });
}
