// A write batch and its answer cross the thread boundary as one msgpack buffer with records, moved
// (transferred) rather than cloned: the structured clone of op and result objects cost each side
// ~1.8 µs per op, packing them as records and moving the buffer ~0.5 µs to pack and ~0.3 µs to
// unpack (measured on this project's machine with 500 purchases per batch). Records write each op
// shape's field names once per buffer, and every buffer carries its own record definitions, so the
// two threads share no encoder state.
import { Packr } from 'msgpackr';

// Every option spelled out (DESIGN, house style 6): the same as the batch log's (engine/shard/batch-log.ts).
const packr = new Packr({
  useRecords: true,
  moreTypes: false,
  structuredClone: false,
  bundleStrings: false,
  encodeUndefinedAsNil: false,
  useFloat32: 0,
  useTimestamp32: false,
  mapsAsObjects: true,
  variableMapSize: false,
  int64AsType: 'number',
  largeBigIntToFloat: false,
  copyBuffers: true,
});

/** The value packed into a buffer of its own, fit to be transferred (the packer reuses its buffer). */
export function packRecords(value: unknown): Uint8Array {
  return new Uint8Array(packr.pack(value));
}

/** A value packed by packRecords. */
export function unpackRecords<T>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T;
}
