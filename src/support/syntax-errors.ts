/** Where a parser stopped and why, for `file:line:col: what`. */
export interface SyntaxProblem {
  line: number;
  column: number;
  what: string;
}

/** `file:line:col: not valid JSON: what`, the way compilers and editors name a place in a file. */
export function formatSyntaxProblem(file: string, language: 'JSON' | 'YAML', problem: SyntaxProblem): string {
  return `${file}:${problem.line}:${problem.column}: not valid ${language}: ${problem.what}`;
}

/** The name of a file as messages give it: `-` is stdin. */
export function fileLabel(path: string): string {
  return path === '-' ? 'stdin' : path;
}

/**
 * Where JSON.parse refused `text`. Node names the offset in most messages but not in all (not in
 * "Unexpected token '}', … is not valid JSON"); there, the shortest prefix of the text that fails
 * other than by running out ends with the offending character.
 */
export function jsonSyntaxProblem(text: string, error: unknown): SyntaxProblem {
  const what = jsonReason(error);
  const named = reportedOffset(error);
  if (named !== undefined) return { ...position(text, Math.min(named, text.length)), what };
  const failsWithin = (length: number): boolean => {
    try {
      JSON.parse(text.slice(0, length));
      return false;
    } catch (prefixError) {
      const offset = reportedOffset(prefixError);
      return offset === undefined
        ? !/Unexpected end of JSON input/.test(String(prefixError))
        : offset < length;
    }
  };
  let low = 1;
  let high = text.length;
  if (!failsWithin(high)) return { ...position(text, text.length), what };
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if (failsWithin(middle)) high = middle;
    else low = middle + 1;
  }
  return { ...position(text, low - 1), what };
}

function reportedOffset(error: unknown): number | undefined {
  const match = /at position (\d+)/.exec(String(error));
  return match === null ? undefined : Number(match[1]);
}

function position(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

/** Node's reason without the position or the echo of the text, which differ between versions. */
function jsonReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message
    .replace(/,\s*(\.\.\.)?".*"(\.\.\.)? is not valid JSON$/s, '')
    .replace(/\s*(in JSON)?\s*at position \d+.*$/s, '')
    .replace(/\s+in JSON$/, '')
    .trim();
}

/** The first problem of a `yaml` parse error ("… at line 3, column 8:" and a snippet). */
export function yamlSyntaxProblem(error: unknown): SyntaxProblem {
  const { linePos, message } = error as { linePos?: Array<{ line: number; col: number }>; message?: string };
  const first = linePos?.[0];
  const what = (message ?? String(error)).split('\n')[0]?.replace(/\s*at line \d+, column \d+:?$/, '') ?? '';
  return { line: first?.line ?? 1, column: first?.col ?? 1, what: what.trim() };
}
