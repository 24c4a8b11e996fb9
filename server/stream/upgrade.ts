// Who is on a stream: the key in the upgrade's Authorization header (a wrong one is refused with
// 401 before the upgrade), or, when the upgrade carried none, a first hello frame naming a key.
import type uWS from 'uWebSockets.js';
import { opError } from '../../engine/errors.js';
import { bearerKey, type KeyStore, type Role } from '../auth.js';
import type { Engine } from '../../engine/router/engine.js';
import { newConn, type Conn } from './connection.js';
import { errorFrame } from './frames.js';
import type { RequestLog } from '../request-log.js';

/** The upgrade handler: authenticates by header when one is sent, and opens the connection's state. */
export function upgradeHandler(keys: KeyStore, engine: Engine, requestLog?: RequestLog): (res: uWS.HttpResponse, req: uWS.HttpRequest, context: uWS.us_socket_context_t) => void {
  return (res, req, context) => {
    const header = req.getHeader('authorization');
    let principal: { id: string; role: Role } | null = null;
    if (header !== '') {
      principal = keys.authenticate(bearerKey(header));
      if (principal === null) {
        requestLog?.record({ keyId: null, method: 'GET', route: '/v1/stream', status: 401, latencyMs: 0, code: 'unauthorized' });
        res.writeStatus('401 Unauthorized').writeHeader('Content-Type', 'application/json')
          .end(JSON.stringify({ error: opError('unauthorized') }));
        return;
      }
    }
    res.upgrade<Conn>(newConn(principal, engine.newSequence()), req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'), context);
  };
}

/** A hello frame: a valid key sets the connection's role and is welcomed; any other is refused. */
export function hello(keys: KeyStore, conn: Conn, frame: Record<string, unknown>, requestLog?: RequestLog): Record<string, unknown> {
  const principal = typeof frame['key'] === 'string' ? keys.authenticate(frame['key']) : null;
  if (principal === null) {
    requestLog?.record({ keyId: null, method: 'WS', route: '/v1/stream hello', status: 401, latencyMs: 0, code: 'unauthorized' });
    return errorFrame('unauthorized', 'the hello frame\'s key is not valid');
  }
  conn.role = principal.role;
  conn.keyId = principal.id;
  return { type: 'welcome', role: principal.role };
}
