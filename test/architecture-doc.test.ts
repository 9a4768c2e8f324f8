import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * docs/ARCHITECTURE.md is a map of the code: a file it names that was moved or renamed sends a
 * newcomer nowhere. Every `path.ts`/`.lua`/`.mjs` it names in backticks must be the end of a real
 * file's path.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOC = readFileSync(join(ROOT, 'docs', 'ARCHITECTURE.md'), 'utf8');
const FILES = ['src', 'test', 'scripts'].flatMap((dir) =>
  readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' }).map((path) => `/${dir}/${path}`),
);

function namedFiles(markdown: string): string[] {
  const names = new Set<string>();
  for (const [, code] of markdown.matchAll(/`([^`\n]+)`/g)) {
    const name = code?.trim() ?? '';
    if (/^[\w./-]+\.(ts|lua|mjs)$/.test(name)) names.add(name);
  }
  return [...names];
}

describe('docs/ARCHITECTURE.md', () => {
  const named = namedFiles(DOC);

  it('names files', () => {
    expect(named.length).toBeGreaterThan(50);
  });

  it('names only files that exist', () => {
    const missing = named.filter((name) => !FILES.some((path) => path.endsWith(`/${name}`)));
    expect(missing).toEqual([]);
  });
});
