// Describes the machine a benchmark ran on, so that every printed figure carries its context.
import { arch, cpus, platform, totalmem } from 'node:os';

const BYTES_PER_GIB = 1024 ** 3;

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  nodeVersion: string;
  platform: string;
}

export function describeMachine(): Machine {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim().replace(/\s+/g, ' ') ?? 'unknown cpu',
    cores: list.length,
    memoryGiB: totalmem() / BYTES_PER_GIB,
    nodeVersion: process.version,
    platform: `${platform()}-${arch()}`,
  };
}

/** The one line every benchmark prints first. */
export function machineLine(machine: Machine = describeMachine()): string {
  return `machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB.toFixed(1)} GiB RAM, node ${machine.nodeVersion}, ${machine.platform}`;
}
