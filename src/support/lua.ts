import { readFileSync } from 'node:fs';

/** Lua lives in .lua files beside the module that runs it; the build copies them into dist. */
export function loadLua(moduleUrl: string, name: string): string {
  return readFileSync(new URL(`./lua/${name}.lua`, moduleUrl), 'utf8');
}
