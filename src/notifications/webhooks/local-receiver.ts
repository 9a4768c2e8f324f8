import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedWebhook {
  webhookId: string;
  /** Whether the standardwebhooks verifier accepted the signature. */
  verified: boolean;
  /** The parsed body when it verified. */
  payload: unknown;
}

export interface LocalReceiver {
  url: string;
  close(): Promise<void>;
}

/**
 * A minimal webhook receiver on loopback that verifies each message as a real receiver should
 * (the raw body, the three headers, the library's verifier) and answers 204, or 401 when the
 * signature does not verify. The demo uses it to show deliveries as they happen.
 */
export async function startLocalReceiver(options: {
  secret: string;
  onMessage: (message: ReceivedWebhook) => void;
}): Promise<LocalReceiver> {
  const verifier = new Webhook(options.secret);
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const header = (name: string) => String(req.headers[name] ?? '');
    let payload: unknown;
    let verified = true;
    try {
      payload = verifier.verify(Buffer.concat(chunks).toString('utf8'), {
        'webhook-id': header('webhook-id'),
        'webhook-timestamp': header('webhook-timestamp'),
        'webhook-signature': header('webhook-signature'),
      });
    } catch {
      verified = false;
    }
    options.onMessage({ webhookId: header('webhook-id'), verified, payload });
    res.writeHead(verified ? 204 : 401).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
