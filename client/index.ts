// The Loyalty Ledger client library: the typed HTTP client and the POS stream client.
export { ApiError, CLIENT_ROUND_DELAY_MS, KEYED_WRITES, LoyaltyClient, pathOf, resendable, type AnswerOf, type BodyOf, type CallOptions, type ClientOptions, type ParamsOf, type RouteName } from './http.js';
export { PosStream, STREAM_DEFAULTS, type OpBodies, type OpName, type OpResult, type StreamOp, type StreamOptions, type WebSocketConstructor, type WebSocketLike } from './stream.js';
