#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { registerBagCommands } from './commands/bag';
import { registerEvalCommands } from './commands/eval';
import { registerReplayCommands } from './commands/replay';
import { registerDemoCommands } from './commands/demo';
import { registerExportCommands } from './commands/export';
import { registerSynthCommands, registerTestBagCommands } from './commands/synth';
import { registerTrainCommands } from './commands/train';
import { CliError, EXIT, takeRequestedExitCode } from './util';

const EXIT_CODES_HELP = `
Exit codes:
  0    success
  1    unexpected failure (a bug or an I/O error; please report it)
  2    bad command line (unknown option, missing argument)
  3    bad input data (malformed bag, invalid model package, bad dataset); the message says what to fix
  130  interrupted (SIGINT/SIGTERM); outputs written so far were finalised`;

/** Builds the `declip` command tree (exported for tests). */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('declip')
    .description('declip-ros: open-vocabulary RGB-D perception (DeCLIP masks -> 3D instances -> 6D pose)')
    .version(require('../../package.json').version)
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP)
    // set before the subcommands are added so that they inherit it: errors come back to runCli as exceptions
    .exitOverride()
    .configureOutput({ writeErr: (s) => console.error(s.replace(/\n$/, '')) });
  registerSynthCommands(program);
  registerBagCommands(program);
  registerReplayCommands(program);
  registerDemoCommands(program);
  registerExportCommands(program);
  registerTestBagCommands(program);
  registerEvalCommands(program);
  registerTrainCommands(program);
  return program;
}

function isTypedInputError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  // Typed errors from the modules (BagError, DecodeError, ImageFormatError, ModelPackageError, ...) all carry
  // a message that says what to fix; anything else is unexpected.
  return /Error$/.test(e.name) && e.name !== 'Error' && e.name !== 'TypeError' && e.name !== 'RangeError';
}

/** Runs the CLI; returns the exit code instead of exiting (for tests). */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return takeRequestedExitCode() ?? EXIT.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    if (e instanceof CliError) {
      console.error(`error: ${e.message}`);
      return e.exitCode;
    }
    if (isTypedInputError(e)) {
      console.error(`error: ${(e as Error).message}`);
      return EXIT.BAD_INPUT;
    }
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    return EXIT.FAILURE;
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(EXIT.FAILURE);
    },
  );
}
