import { InputError } from '../../errors/input-error.js';
import { assertTargetAllowed } from './address-guard.js';

/**
 * Checks a webhook target as given: an absolute http(s) URL without credentials. Returns it
 * normalised. (Where it resolves to is checked separately, at enqueue and again at delivery.)
 */
export function validateTargetUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InputError(`webhook URL ${JSON.stringify(text)} is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InputError(`webhook URL ${JSON.stringify(text)} must use http or https`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new InputError('webhook URL must not contain credentials; sign with WEBHOOK_SECRET instead');
  }
  return url.toString();
}

/**
 * The check a per-watch webhook URL passes at enqueue: well-formed (validateTargetUrl), and not
 * resolving to a private or loopback address unless WEBHOOK_ALLOW_PRIVATE (the address guard).
 */
export function deliverableTarget(allowPrivate: boolean): (url: string) => Promise<string> {
  return async (url) => {
    const normalised = validateTargetUrl(url);
    await assertTargetAllowed(normalised, { allowPrivate });
    return normalised;
  };
}
