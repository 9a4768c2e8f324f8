import type { Command, Help } from 'commander';

/**
 * Shell completion scripts generated from the commander program itself, so a new command, option
 * or choice is completed without anyone editing a script. Each script walks the words typed so
 * far to find the command path (`actionwatch chains list`), then offers that command's
 * subcommands, its options (global ones included), an option's choices, or files.
 */

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

interface OptionSpec {
  /** `--state`, and `-q` where there is a short form. */
  names: string[];
  takesValue: boolean;
  choices: string[];
  description: string;
}

interface CommandSpec {
  /** From the program down, e.g. `actionwatch chains list`. */
  path: string;
  name: string;
  description: string;
  subcommands: CommandSpec[];
  options: OptionSpec[];
  /** Choices of the first argument, when it has them. */
  argumentChoices: string[];
}

/** The first sentence-ish line of a description: completion menus have one line per entry. */
function summary(text: string): string {
  return text.split('\n')[0]?.replace(/\s+/g, ' ').trim() ?? '';
}

function describe(command: Command, parentPath: string | undefined, help: Help): CommandSpec {
  const path = parentPath === undefined ? command.name() : `${parentPath} ${command.name()}`;
  const options = [...help.visibleOptions(command), ...help.visibleGlobalOptions(command)].map((option) => ({
    names: [option.long, option.short].filter((name): name is string => name !== undefined),
    takesValue: option.required || option.optional,
    choices: option.argChoices ?? [],
    description: summary(option.description),
  }));
  return {
    path,
    name: command.name(),
    description: summary(command.description()),
    subcommands: help.visibleCommands(command).map((sub) => describe(sub, path, help)),
    options,
    argumentChoices: command.registeredArguments[0]?.argChoices ?? [],
  };
}

function flatten(spec: CommandSpec): CommandSpec[] {
  return [spec, ...spec.subcommands.flatMap(flatten)];
}

/** Every command path of the program, as the scripts know them (what the tests check). */
export function commandPaths(program: Command): string[] {
  return flatten(describe(program, undefined, programHelp(program))).map((spec) => spec.path);
}

function programHelp(program: Command): Help {
  const help = program.createHelp();
  // Global options are offered on every command, whatever the help shows.
  help.showGlobalOptions = true;
  return help;
}

/** Single-quoted for bash, zsh and fish alike (fish also accepts '\'' concatenation). */
function quote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function words(items: readonly string[]): string {
  return quote(items.join(' '));
}

/**
 * Bash and zsh alike: walks the words before the cursor (`words` from index `first`) and extends
 * `cmdpath` by each one that names a subcommand of the path so far.
 */
function pathWalk(specs: readonly CommandSpec[], words: string, first: number, count: string): string {
  const cases = specs
    .filter((spec) => spec.subcommands.length > 0)
    .flatMap((spec) => spec.subcommands.map((sub) => `"${sub.path}"`))
    .join('|');
  return `  for ((i = ${first}; i < ${count}; i++)); do
    case "$cmdpath \${${words}[i]}" in
      ${cases}) cmdpath="$cmdpath \${${words}[i]}" ;;
    esac
  done`;
}

function bash(root: CommandSpec): string {
  const specs = flatten(root);
  const fn = `_${root.name.replace(/[^A-Za-z0-9_]/g, '_')}_complete`;
  const cases = specs.map((spec) => {
    const valueCases = spec.options
      .filter((option) => option.takesValue)
      .map(
        (option) =>
          `        ${option.names.join('|')}) COMPREPLY=($(compgen -W ${words(option.choices)} -- "$cur")); return ;;`,
      );
    const next = spec.subcommands.length > 0 ? spec.subcommands.map((sub) => sub.name) : spec.argumentChoices;
    return [
      `    ${quote(spec.path)})`,
      ...(valueCases.length === 0 ? [] : ['      case "$prev" in', ...valueCases, '      esac']),
      `      if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W ${words(spec.options.flatMap((o) => o.names))} -- "$cur")); return; fi`,
      `      COMPREPLY=($(compgen -W ${words(next)} -- "$cur"))`,
      '      ;;',
    ].join('\n');
  });
  return `# ${root.name} completion for bash, generated from the program by \`${root.name} completion bash\`.
# Load it now with:  source <(${root.name} completion bash)
# or for good with:  ${root.name} completion bash > ~/.local/share/bash-completion/completions/${root.name}
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" cmdpath=${quote(root.name)} i
${pathWalk(specs, 'COMP_WORDS', 1, 'COMP_CWORD')}
  COMPREPLY=()
  case "$cmdpath" in
${cases.join('\n')}
  esac
}
# -o default: where nothing is offered (a file argument, a free value), files are.
complete -o default -F ${fn} ${root.name}
`;
}

/** `name:description` entries for zsh's _describe, colons in names escaped. */
function described(entries: ReadonlyArray<{ name: string; description: string }>): string {
  return entries.map((entry) => quote(`${entry.name.replaceAll(':', '\\:')}:${entry.description}`)).join(' ');
}

function zsh(root: CommandSpec): string {
  const specs = flatten(root);
  const fn = `_${root.name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const cases = specs.map((spec) => {
    const valueCases = spec.options
      .filter((option) => option.takesValue)
      .map(
        (option) =>
          `        ${option.names.join('|')}) ${option.choices.length > 0 ? `compadd -- ${option.choices.map(quote).join(' ')}` : '_files'}; return ;;`,
      );
    const options = spec.options.flatMap((option) =>
      option.names.map((name) => ({ name, description: option.description })),
    );
    const next =
      spec.subcommands.length > 0
        ? `local -a subcommands=(${described(spec.subcommands)}); _describe command subcommands`
        : spec.argumentChoices.length > 0
          ? `compadd -- ${spec.argumentChoices.map(quote).join(' ')}`
          : '_files';
    return [
      `    ${quote(spec.path)})`,
      ...(valueCases.length === 0 ? [] : ['      case "$prev" in', ...valueCases, '      esac']),
      `      if [[ "$cur" == -* ]]; then local -a flags=(${described(options)}); _describe option flags; return; fi`,
      `      ${next}`,
      '      ;;',
    ].join('\n');
  });
  return `#compdef ${root.name}
# ${root.name} completion for zsh, generated from the program by \`${root.name} completion zsh\`.
# Load it now with:  source <(${root.name} completion zsh)
# or for good: ${root.name} completion zsh > "\${fpath[1]}/_${root.name}" (then compinit)
${fn}() {
  # Not path, commands or options: zsh ties those names to PATH and its own tables.
  local cur="\${words[CURRENT]}" prev="\${words[CURRENT-1]}" cmdpath=${quote(root.name)} i
${pathWalk(specs, 'words', 2, 'CURRENT')}
  case "$cmdpath" in
${cases.join('\n')}
  esac
}
if [[ "\${funcstack[1]}" = "${fn}" ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${root.name}
fi
`;
}

function fish(root: CommandSpec): string {
  const specs = flatten(root);
  const pathFn = `__${root.name.replace(/[^A-Za-z0-9_]/g, '_')}_path`;
  const lines = specs.flatMap((spec) => {
    const when = `-n ${quote(`test (${pathFn}) = ${quote(spec.path)}`)}`;
    return [
      ...spec.subcommands.map(
        (sub) => `complete -c ${root.name} ${when} -f -a ${quote(sub.name)} -d ${quote(sub.description)}`,
      ),
      ...spec.argumentChoices.map((choice) => `complete -c ${root.name} ${when} -f -a ${quote(choice)}`),
      // A command that takes neither a subcommand nor a choice may take a file (chain FILE).
      ...(spec.subcommands.length === 0 && spec.argumentChoices.length === 0
        ? [`complete -c ${root.name} ${when} -F`]
        : []),
      ...spec.options.map((option) => {
        const names = option.names
          .map((name) => (name.startsWith('--') ? `-l ${name.slice(2)}` : `-s ${name.slice(1)}`))
          .join(' ');
        const value = !option.takesValue
          ? ''
          : option.choices.length > 0
            ? ` -x -a ${words(option.choices)}`
            : ' -r -F';
        return `complete -c ${root.name} ${when} ${names}${value} -d ${quote(option.description)}`;
      }),
    ];
  });
  return `# ${root.name} completion for fish, generated from the program by \`${root.name} completion fish\`.
# Load it now with:  ${root.name} completion fish | source
# or for good with:  ${root.name} completion fish > ~/.config/fish/completions/${root.name}.fish
function ${pathFn}
    set -l cmdpath ${quote(root.name)}
    for word in (commandline -opc)[2..-1]
        switch "$cmdpath $word"
            case ${specs
              .filter((spec) => spec.subcommands.length > 0)
              .flatMap((spec) => spec.subcommands.map((sub) => quote(sub.path)))
              .join(' ')}
                set cmdpath "$cmdpath $word"
        end
    end
    echo $cmdpath
end
complete -c ${root.name} -f
${lines.join('\n')}
`;
}

export function completionScript(program: Command, shell: Shell): string {
  const root = describe(program, undefined, programHelp(program));
  return { bash, zsh, fish }[shell](root);
}
