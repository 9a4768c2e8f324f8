import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const TITLE = `# Benchmark results

Written by \`npm run bench -- --write\`; each mode replaces only its own section (between its
markers), so notes written outside the markers stay.
`;

/**
 * Replaces the section `name` of the results file with `markdown`, adding it (or the file) when
 * missing. The new file is written beside the old one and renamed over it: never half-written.
 */
export function writeResultsSection(path: string, name: string, heading: string, markdown: string): void {
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const block = `${start}\n## ${heading}\n\n${markdown}\n${end}`;
  const current = existsSync(path) ? readFileSync(path, 'utf8') : TITLE;
  const from = current.indexOf(start);
  const to = current.indexOf(end);
  const next =
    from !== -1 && to > from
      ? `${current.slice(0, from)}${block}${current.slice(to + end.length)}`
      : `${current.trimEnd()}\n\n${block}\n`;
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, next);
  renameSync(temporary, path);
}
