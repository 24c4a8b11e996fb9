// A free TCP port on loopback for a server a harness or test starts (and may restart on the same
// port, so that its clients find it again): bound with port 0, read, released. Another process may
// take it between the release and the server's bind, rarely; loopback only, never a public address.
import { createServer } from 'node:net';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
