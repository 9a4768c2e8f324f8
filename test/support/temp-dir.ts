import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A private temporary folder for one test file's input files; `remove()` it in afterAll. */
export class TempDir {
  readonly path: string;
  private count = 0;

  constructor(name: string) {
    this.path = mkdtempSync(join(tmpdir(), `${name}-`));
  }

  /** Writes `content` to a new file in the folder and returns its path. */
  file(content: string, name = `file-${++this.count}.jsonl`): string {
    const path = join(this.path, name);
    writeFileSync(path, content);
    return path;
  }

  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}
