/** A fenced code block of a Markdown file that is marked `<!-- runnable -->` on the line before it. */
export interface RunnableBlock {
  /** The fence's language: `sh`, `ts`, `yaml`, … */
  lang: string;
  /** `<!-- runnable: NAME -->`: the block is a file to save under this name. */
  file?: string;
  code: string;
  /** 1-based line of the opening fence, for messages. */
  line: number;
}

const MARKER = /^<!--\s*runnable(?::\s*(\S+))?\s*-->\s*$/;
const FENCE = /^```(\w*)\s*$/;

/**
 * The runnable blocks of a Markdown text, in document order. A marker that is not followed by a
 * fenced block, or a block that is never closed, throws: a typo must not silently skip an example.
 */
export function runnableBlocks(markdown: string): RunnableBlock[] {
  const lines = markdown.split('\n');
  const blocks: RunnableBlock[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const marker = MARKER.exec(lines[i] ?? '');
    if (marker === null) continue;
    const fence = FENCE.exec(lines[i + 1] ?? '');
    if (fence === null || fence[1] === '') {
      throw new Error(`line ${i + 1}: a runnable marker must be followed by a fenced block with a language`);
    }
    const close = lines.findIndex((line, index) => index > i + 1 && line.trimEnd() === '```');
    if (close === -1) throw new Error(`line ${i + 2}: the runnable block is never closed`);
    blocks.push({
      lang: fence[1] as string,
      ...(marker[1] === undefined ? {} : { file: marker[1] }),
      code: lines.slice(i + 2, close).join('\n'),
      line: i + 2,
    });
    i = close;
  }
  return blocks;
}

/** The messages of `&& echo "…"` in a shell block: each must print, or the command before it failed. */
export function promisedEchoes(code: string): string[] {
  return [...code.matchAll(/&&\s*echo\s+"([^"]*)"/g)].map((match) => match[1] as string);
}

/**
 * One bash session of the shell blocks in document order, as a reader following the text in one
 * terminal would run them; file blocks are saved (in the session's folder at that point) where
 * they appear. Each block is announced by `[runnable line N]` on stderr.
 */
export function shellSession(blocks: RunnableBlock[]): string {
  const parts = ['set -euo pipefail'];
  for (const block of blocks) {
    if (block.file !== undefined) {
      parts.push(`cat > '${block.file}' <<'RUNNABLE_BLOCK_END'\n${block.code}\nRUNNABLE_BLOCK_END`);
    } else if (block.lang === 'sh' || block.lang === 'bash') {
      parts.push(`echo '[runnable line ${block.line}]' >&2\n${block.code}`);
    }
  }
  return `${parts.join('\n\n')}\n`;
}
