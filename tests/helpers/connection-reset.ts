import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real connection reset, as the Storage emulator produced under a burst: a local server
 * accepts the request and destroys the socket; returns the error fetch threw.
 */
export async function connectionResetError(): Promise<unknown> {
  const server = createServer((req) => req.socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    await fetch(`http://127.0.0.1:${port}/`);
    throw new Error('expected the request to fail');
  } catch (err) {
    return err;
  } finally {
    server.close();
  }
}
