/**
 * The CLI's errors: each carries the exit code it ends the process with.
 * `main.ts` is the one place where they become a line on stderr and an exit code.
 */
export class CliError extends Error {
  readonly exitCode: 1 | 2;

  constructor(message: string, exitCode: 1 | 2, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** Exit 2: an unknown command or flag, an unreadable or invalid file, an invalid policy. */
export class UsageError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 2, options);
  }
}

/** Exit 1: the command ran and found a failure (pin mismatch, untrusted chain, unreachable host). */
export class FailureError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 1, options);
  }
}
