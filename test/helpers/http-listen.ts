/** Listening and closing for the harness's local HTTP servers (vendor and Slack fakes). */
import type { Server } from 'node:http';

/** Listens on 127.0.0.1:`port` (0 = any free port); rejects if the port is taken. */
export function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Close the listener and cut keep-alive connections, which would otherwise outlive close(). */
export function shutdown(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
