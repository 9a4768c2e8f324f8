import type { ResourceId, RunKind } from '../digitalocean/models.js';
import { hasScopedActions } from '../digitalocean/resource-ids.js';

/**
 * A start whose action cannot be identified: DigitalOcean answered the POST with a 2xx that does
 * not say which action it is (`answered`), or its answer was lost after the request may have
 * landed, and the resource's actions since the start show none that matches. The POST is never
 * sent again (that could start a second, paid, action): a person has to look.
 */
export class ActionProbablyStartedError extends Error {
  constructor(
    readonly details: {
      kind: RunKind;
      /** null for a droplet create: the droplets had no ids before it. */
      resourceId: ResourceId | null;
      type: string;
      /** In words: `transfer of image 7555620 to nyc3`. */
      what: string;
      /** True when DigitalOcean answered 2xx (it started); false when the answer was lost. */
      answered: boolean;
      /** What went wrong with the answer, e.g. `POST … returned 201 with a body that is not {"action": …}`. */
      why: string;
      /** The token profile, so the user looks with the same token. */
      tokenProfile?: string | undefined;
      /** Where to look, when not among the resource's actions: `the droplets tagged actionwatch:…`. */
      lookIn?: string | undefined;
    },
  ) {
    const { kind, resourceId, what, answered, why, tokenProfile, lookIn } = details;
    const profile =
      tokenProfile === undefined
        ? ''
        : ` (with DIGITALOCEAN_TOKEN_${tokenProfile.toUpperCase()} as the token)`;
    const started = `the ${what} ${answered ? 'was probably started' : 'may have been started'} (${why})`;
    // DigitalOcean lists no actions of a single reserved IPv6 address: only the account's list has them.
    const look =
      lookIn !== undefined || resourceId === null
        ? `it does not show among ${lookIn ?? `the ${kind}s`} yet, so it was not sent again; look there${profile} before trying again`
        : hasScopedActions(kind)
          ? `no such action shows among the ${kind}'s actions yet, so it was not sent again; ` +
            `find it with \`actionwatch actions ${kind} ${resourceId}\`${profile} and watch it by its id`
          : `no such action can be told apart (DigitalOcean lists no actions of a single ${kind}), so it was not sent again; ` +
            `find it in the account's actions${profile} and watch it with \`actionwatch watch action <actionId>\``;
    super(`${started}, but ${look}`);
    this.name = 'ActionProbablyStartedError';
  }
}
