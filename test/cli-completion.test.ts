import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandPaths } from '../src/cli/completion.js';
import { buildProgram } from '../src/cli/program.js';
import { CLI, expectOneLineFailure, runCli } from './support/cli.js';
import { TempDir } from './support/temp-dir.js';

function installed(shell: string): boolean {
  return spawnSync(shell, ['-c', 'exit 0']).status === 0;
}

/** Runs `script` in `shell` with its arguments; stdout and the exit status. */
function run(shell: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(shell, args, { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

describe('actionwatch completion bash|zsh|fish', () => {
  const temp = new TempDir('aw-completion');
  const scripts: Record<string, string> = {};
  const files: Record<string, string> = {};
  const program = buildProgram();

  beforeAll(async () => {
    for (const shell of ['bash', 'zsh', 'fish']) {
      const result = await runCli(['completion', shell], {});
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
      scripts[shell] = result.stdout;
      files[shell] = temp.file(result.stdout, `actionwatch.${shell}`);
    }
  });

  afterAll(() => temp.remove());

  it('ends quietly with exit 0 when its reader closes the pipe early (`| true`, `| head`)', () => {
    // The pipeline's first exit status, as bash keeps it.
    const status = '$' + '{PIPESTATUS[0]}';
    const result = spawnSync('bash', ['-c', `node "${CLI}" completion zsh | true; echo "${status}" >&2`], {
      encoding: 'utf8',
    });
    expect(result.stderr.trim()).toBe('0');
  });

  it.each(['bash', 'zsh', 'fish'])(
    'the %s script names every command and every option of the program',
    (shell) => {
      const script = scripts[shell] as string;
      const paths = commandPaths(program);
      expect(paths).toContain('actionwatch chains list');
      expect(paths).toContain('actionwatch doctor');
      for (const path of paths) expect(script).toContain(`'${path}'`);
      for (const command of allCommands(program)) {
        for (const option of command.options) {
          const long = option.long as string;
          expect(script).toContain(shell === 'fish' ? `-l ${long.slice(2)}` : long);
        }
      }
    },
  );

  it('bash: valid syntax, and completes commands, subcommands, options and choices', () => {
    expect(run('bash', ['-n', files.bash as string]).status).toBe(0);
    const complete = (line: string) => {
      const words = line.split(' ');
      const result = run('bash', [
        '--norc',
        '--noprofile',
        '-c',
        `source "$1"; COMP_WORDS=(${words.map((word) => `'${word}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _actionwatch_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
        'complete',
        files.bash as string,
      ]);
      expect(result.stderr).toBe('');
      return result.stdout.split('\n').filter((word) => word !== '');
    };
    expect(complete('actionwatch ')).toEqual(
      program.commands.map((command) => command.name()).concat('help'),
    );
    expect(complete('actionwatch ch')).toEqual(['chain', 'chains']);
    expect(complete('actionwatch chains ')).toEqual(['list', 'show', 'cancel', 'help']);
    expect(complete('actionwatch list --state ')).toEqual(['waiting', 'done', 'all']);
    expect(complete('actionwatch --quiet chains list --o')).toEqual(['--output']);
    expect(complete('actionwatch events --log-level d')).toEqual(['debug']);
    expect(complete('actionwatch completion ')).toEqual(['bash', 'zsh', 'fish']);
    // A file argument: nothing offered, so bash's -o default completes file names.
    expect(complete('actionwatch chain ')).toEqual([]);
  });

  it.skipIf(!installed('zsh'))(
    'zsh: valid syntax, and the function offers subcommands, options and choices',
    () => {
      expect(run('zsh', ['-n', files.zsh as string]).status).toBe(0);
      // zsh's completion builtins replaced by functions that print what they were given.
      const harness = [
        'compdef() { :; }',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: zsh's indirect expansion, not a template
        '_describe() { print -l -- ${(P)2} }',
        'compadd() { shift; print -l -- "$@" }',
        "_files() { print -- '<files>' }",
        'source "$1"; shift; words=("$@"); CURRENT=$#; _actionwatch',
      ].join('\n');
      const complete = (...words: string[]) =>
        run('zsh', ['-f', '-c', harness, 'complete', files.zsh as string, ...words])
          .stdout.trim()
          .split('\n');
      expect(complete('actionwatch', 'chains', '')).toEqual([
        'list:print chains as JSON Lines, newest first',
        expect.stringMatching(/^show:/),
        expect.stringMatching(/^cancel:/),
        expect.stringMatching(/^help:/),
      ]);
      expect(complete('actionwatch', 'list', '--state', '')).toEqual(['waiting', 'done', 'all']);
      expect(complete('actionwatch', 'show', '--')).toContain(
        '--output:json (JSON Lines, the default) or table, for reading',
      );
      expect(complete('actionwatch', 'chain', '')).toEqual(['<files>']);
    },
  );

  it.skipIf(!installed('fish'))(
    'fish: valid syntax, and complete -C offers subcommands, options and choices',
    () => {
      expect(run('fish', ['-n', files.fish as string]).status).toBe(0);
      const complete = (line: string) =>
        run('fish', ['-c', `source $argv[1]; complete -C "${line}"`, files.fish as string])
          .stdout.trim()
          .split('\n')
          .map((entry) => entry.split('\t')[0]);
      expect(complete('actionwatch chains ')).toEqual(['cancel', 'help', 'list', 'show']);
      expect(complete('actionwatch list --state ')).toEqual(['all', 'done', 'waiting']);
      expect(complete('actionwatch --log-level info events --')).toEqual(
        expect.arrayContaining(['--follow', '--type', '--since', '--log-level', '--quiet']),
      );
    },
  );

  it('the README names every command and says where the full option lists are', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const path of commandPaths(program).filter((path) => !path.endsWith(' help'))) {
      const [, command = '', sub] = path.split(' ');
      expect(readme).toContain(`actionwatch ${command}`);
      // A subcommand on a line that names its command (`chains list|show|cancel`, `webhooks retry`).
      if (sub !== undefined) {
        const lines = readme.split('\n').filter((line) => line.includes(`${command} `));
        expect(
          lines.some((line) => new RegExp(`\\b${sub}\\b`).test(line)),
          path,
        ).toBe(true);
      }
    }
    expect(readme).toContain('actionwatch <command> --help');
  });

  it('an unknown shell is refused with one line', async () => {
    expectOneLineFailure(await runCli(['completion', 'tcsh'], {}), /'tcsh' is invalid.*bash, zsh, fish/);
  });
});
