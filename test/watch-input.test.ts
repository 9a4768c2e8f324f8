import { afterAll, describe, expect, it } from 'vitest';
import { parseTimeout, readWatchFile } from '../src/cli/watch-input.js';
import { validateTargetUrl } from '../src/notifications/webhooks/target-url.js';
import { parseActionRef, parseWatchId, watchIdOf } from '../src/watches/watch-ref.js';
import { normaliseWatch } from '../src/watches/watch-request.js';
import { TempDir } from './support/temp-dir.js';

const temp = new TempDir('aw-input');
afterAll(() => temp.remove());
const file = (text: string) => temp.file(text);

describe('watch input', () => {
  it('accepts droplet and image refs and derives a stable watch id', () => {
    const ref = parseActionRef('image', '7555620', 29410565);
    expect(ref).toEqual({ kind: 'image', resourceId: 7555620, actionId: 29410565 });
    expect(watchIdOf(ref)).toBe('image-7555620-29410565');
    expect(parseWatchId('image-7555620-29410565')).toEqual(ref);
    expect(parseWatchId('volume-1-2')).toBeUndefined();
  });

  it.each([
    ['spaceship', '1', '2', /kind must be one of droplet, image, volume/],
    ['volume', '1', '2', /resourceId of a volume must be its UUID/],
    ['droplet', '0', '2', /resourceId must be a positive whole number/],
    ['droplet', '-4', '2', /resourceId/],
    ['droplet', '1', '2.5', /actionId must be a positive whole number/],
    ['droplet', '1', 'abc', /actionId/],
    ['droplet', '1', '99999999999999999999', /actionId/],
  ])('rejects %s %s %s', (kind, resourceId, actionId, message) => {
    expect(() => parseActionRef(kind, resourceId, actionId)).toThrow(message);
  });

  it('reads JSON Lines with timeouts and webhooks', async () => {
    const requests = await readWatchFile(
      file(
        '{"kind":"droplet","resourceId":1,"actionId":2}\n\n{"kind":"image","resourceId":3,"actionId":4,"timeout":"2h","webhook":"https://example.com/hook","on":"errored"}\n',
      ),
      validateTargetUrl,
    );
    expect(requests).toEqual([
      { kind: 'droplet', resourceId: 1, actionId: 2 },
      {
        kind: 'image',
        resourceId: 3,
        actionId: 4,
        timeoutMs: 7_200_000,
        webhooks: [{ url: 'https://example.com/hook', on: ['errored'] }],
      },
    ]);
  });

  it('rejects the whole file for one bad line, naming the line', async () => {
    const path = file(
      '{"kind":"droplet","resourceId":1,"actionId":2}\n{"kind":"droplet","resourceId":1}\nnot json\n',
    );
    await expect(readWatchFile(path, validateTargetUrl)).rejects.toThrow(
      /:2: actionId .*; .*:3:2: not valid JSON: Unexpected token 'o'; nothing was enqueued/,
    );
    await expect(
      readWatchFile(file('{"kind":"droplet","resourceId":1,"actionId":2,"colour":"red"}'), validateTargetUrl),
    ).rejects.toThrow(/:1: unknown field "colour"/);
    await expect(readWatchFile(file('\n'), validateTargetUrl)).rejects.toThrow(/no watches/);
    await expect(readWatchFile('/nonexistent/file', validateTargetUrl)).rejects.toThrow(/cannot read/);
  });

  it('takes a token profile per line; --token-profile fills in lines that name none', async () => {
    const path = file(
      [
        '{"kind":"droplet","resourceId":1,"actionId":2}',
        '{"kind":"droplet","resourceId":1,"actionId":3,"tokenProfile":"Team_B"}',
        '{"kind":"droplet","resourceId":1,"actionId":4,"tokenProfile":"default"}',
      ].join('\n'),
    );
    expect((await readWatchFile(path, validateTargetUrl)).map((request) => request.tokenProfile)).toEqual([
      undefined,
      'team_b',
      undefined,
    ]);
    expect(
      (await readWatchFile(path, validateTargetUrl, 'ops')).map((request) => request.tokenProfile),
    ).toEqual(['ops', 'team_b', undefined]);
    await expect(
      readWatchFile(
        file('{"kind":"droplet","resourceId":1,"actionId":2,"tokenProfile":"no way"}'),
        validateTargetUrl,
      ),
    ).rejects.toThrow(/:1: tokenProfile: token profile must be .*nothing was enqueued/);
    await expect(
      readWatchFile(
        file('{"kind":"droplet","resourceId":1,"actionId":2,"tokenProfile":7}'),
        validateTargetUrl,
      ),
    ).rejects.toThrow(/:1: tokenProfile: /);
  });

  it('validates timeouts and webhook URLs', () => {
    expect(parseTimeout('90m')).toBe(5_400_000);
    expect(() => parseTimeout('0s')).toThrow(/positive duration/);
    expect(() => validateTargetUrl('ftp://example.com')).toThrow(/http or https/);
    expect(() => validateTargetUrl('https://user:pw@example.com/')).toThrow(/credentials/);
    expect(() => validateTargetUrl('/relative')).toThrow(/absolute/);
  });

  it('one normaliser names the field at fault, wherever the watch sits', async () => {
    const ref = { kind: 'droplet', resourceId: 1, actionId: 2 };
    const checkTarget = validateTargetUrl;
    await expect(
      normaliseWatch({ ...ref, actionId: -3 }, { checkTarget, field: 'watches[2].' }),
    ).rejects.toThrow(/^watches\[2\]\.actionId must be a positive whole number \(got -3\)$/);
    await expect(normaliseWatch({ ...ref, timeout: 0 }, { checkTarget })).rejects.toThrow(
      /^timeout must be a positive number of ms \(got 0\)$/,
    );
    await expect(
      normaliseWatch({ ...ref, webhooks: [{ url: 'https://example.com/' }, { url: '/x' }] }, { checkTarget }),
    ).rejects.toThrow(/^webhooks\[1\]\.url: webhook URL "\/x" is not an absolute URL$/);
    await expect(
      normaliseWatch({ ...ref, webhooks: [{ url: 'https://example.com/', on: [] }] }, { checkTarget }),
    ).rejects.toThrow(/^webhooks\[0\]\.on must list outcomes among completed, .* \(got \[\]\)$/);
    await expect(normaliseWatch({ ...ref, tokenProfile: 'no way' }, { checkTarget })).rejects.toThrow(
      /^tokenProfile: token profile must be/,
    );
    expect(
      await normaliseWatch(
        { ...ref, timeout: '2h', webhooks: [{ url: 'https://example.com', on: ['errored'] }] },
        { checkTarget, defaultProfile: 'ops' },
      ),
    ).toEqual({
      kind: 'droplet',
      resourceId: 1,
      actionId: 2,
      timeoutMs: 7_200_000,
      webhooks: [{ url: 'https://example.com/', on: ['errored'] }],
      tokenProfile: 'ops',
    });
  });

  it('names a file line’s webhook fields as the line spells them', async () => {
    await expect(
      readWatchFile(
        file(
          '{"kind":"droplet","resourceId":1,"actionId":2,"webhook":"https://example.com/","webhooks":["https://example.com/",7]}',
        ),
        validateTargetUrl,
      ),
    ).rejects.toThrow(/:1: webhooks\[1\] must be a URL string; nothing was enqueued/);
    await expect(
      readWatchFile(
        file('{"kind":"droplet","resourceId":1,"actionId":2,"webhook":"ftp://x"}'),
        validateTargetUrl,
      ),
    ).rejects.toThrow(/:1: webhook: webhook URL "ftp:\/\/x" must use http or https/);
  });
});
