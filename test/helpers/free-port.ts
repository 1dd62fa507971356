/**
 * A free TCP port on the loopback interface.
 *
 * Binds port 0 (the kernel picks an unused port), reads it back and releases it. There is a small
 * window in which another process could take the port before the caller binds it; tests accept that
 * race because the alternative (fixed ports) collides far more often when test files run in parallel.
 */
import { createServer } from 'node:net';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`freePort: unexpected server address ${String(address)}`));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}
