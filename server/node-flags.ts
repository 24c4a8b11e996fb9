// The V8 flags the server runs with: `npm start` passes them (package.json), and the benchmarks
// start their servers with them, so that what is measured is what runs.
//
// --single-threaded-gc: V8's parallel and concurrent collectors run on helper threads, which on a
// machine whose cores the front end, the shards and their clients already keep busy only compete
// with them. Measured with `npm run bench:profile` (2 shards, 20,000 members, 4 POS terminals × 16
// batches × 500 purchases, runs alternated with and without on this project's 2-core machine,
// four pairs): the server's CPU per purchase fell in every pair (e.g. 56.0 → 50.0 and 50.4 → 38.2
// µs, the helper threads' share 13.6 → 10.6 and 11.4 → 6.3 µs), and purchases per second rose
// (14,684 → 15,487 and 18,109 → 27,912). V8 takes the flag only on the command line: set at run
// time it aborts the process in its next collection.
export const SERVER_NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];
