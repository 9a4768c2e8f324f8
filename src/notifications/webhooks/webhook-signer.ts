import { Webhook } from 'standardwebhooks';
import type { Secret } from '../../config/secret.js';

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature'?: string;
}

/**
 * Standard Webhooks headers for one attempt. The id stays the same on every attempt of a message;
 * the timestamp is the attempt's own, so a receiver's replay window accepts late retries.
 * Without a secret the message goes unsigned (the delivery worker warns once at start).
 */
export class WebhookSigner {
  readonly #webhook: Webhook | undefined;

  constructor(secret: Secret | undefined) {
    this.#webhook = secret === undefined ? undefined : new Webhook(secret.reveal());
  }

  get signs(): boolean {
    return this.#webhook !== undefined;
  }

  headers(webhookId: string, body: string, now: Date = new Date()): SignedHeaders {
    const headers: SignedHeaders = {
      'webhook-id': webhookId,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    };
    if (this.#webhook !== undefined) headers['webhook-signature'] = this.#webhook.sign(webhookId, now, body);
    return headers;
  }
}
