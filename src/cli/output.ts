import { Option } from 'commander';
import { printJson } from './context.js';

/** JSON (Lines) is the contract on stdout; `table` is for people reading a terminal. */
export type OutputFormat = 'json' | 'table';

export function outputOption(): Option {
  return new Option('--output <format>', 'json (JSON Lines, the default) or table, for reading')
    .choices(['json', 'table'])
    .default('json');
}

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | boolean | null | undefined;
}

function cell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined || value === '') return '-';
  // One row per record: a newline in a value (an error message) would break the columns.
  return String(value).replace(/\s+/g, ' ');
}

/** Left-aligned columns, two spaces apart, headers first; `-` for an empty cell. */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const grid = [
    columns.map((column) => column.header),
    ...rows.map((row) => columns.map((c) => cell(c.value(row)))),
  ];
  const widths = columns.map((_, index) => Math.max(...grid.map((line) => [...(line[index] ?? '')].length)));
  return grid
    .map((line) =>
      line
        .map((text, index) => (index === line.length - 1 ? text : text.padEnd(widths[index] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/**
 * Prints records as they come in JSON Lines, or, for `table`, collects them and prints one aligned
 * table at `end()` (column widths need every row).
 */
export class RecordPrinter<T> {
  private readonly rows: T[] = [];

  constructor(
    private readonly format: OutputFormat,
    private readonly columns: readonly Column<T>[],
  ) {}

  add(row: T): void {
    if (this.format === 'json') printJson(row);
    else this.rows.push(row);
  }

  end(): void {
    if (this.format === 'table') process.stdout.write(formatTable(this.rows, this.columns));
  }
}

/** One record as `field  value` lines, for `show --output table`. */
export function formatFields(
  fields: ReadonlyArray<readonly [string, string | number | boolean | null | undefined]>,
): string {
  const present = fields.filter(([, value]) => value !== undefined);
  return formatTable(present, [
    { header: 'FIELD', value: ([name]) => name },
    { header: 'VALUE', value: ([, value]) => value },
  ]);
}
