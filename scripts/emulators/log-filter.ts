/**
 * Which lines of firebase-tools' output `npm start` shows on the console when it is not
 * `--verbose` (everything goes to the log file anyway): errors, and warnings that are not the
 * known noise of this setup. Function executions, their info logs and the emulators' chatter
 * stay in the file.
 */

/** Warnings printed at every start on these machines, with nothing to act on. */
const KNOWN_NOISE = [
  /Unable to fetch the CLI MOTD/,
  /drop support for Java version/,
  /Env variable override detected/,
  /Emulator UI is not starting/,
  /MetadataLookupWarning/,
  /--trace-warnings/,
  /Detected demo project ID/,
  /not starting because none of the running emulators/,
  /function ignored because the pubsub emulator/,
];

/** A function's structured log line (firebase-functions/logger), as the emulator prints it. */
function functionLog(line: string): { severity?: string; message?: string; rest: string } | null {
  const start = line.indexOf('{"');
  if (start === -1 || !/^\s*>/.test(line)) return null;
  try {
    const entry = JSON.parse(line.slice(start)) as Record<string, unknown>;
    const { severity, message, ...rest } = entry;
    return {
      severity: typeof severity === 'string' ? severity : undefined,
      message: typeof message === 'string' ? message : undefined,
      rest: Object.keys(rest).length ? JSON.stringify(rest) : '',
    };
  } catch {
    return null;
  }
}

/** The console form of an output line worth showing, or undefined to keep it in the file only. */
export function consoleLine(line: string): string | undefined {
  const text = line.trimEnd();
  if (!text.trim() || KNOWN_NOISE.some((re) => re.test(text))) return undefined;
  const log = functionLog(text);
  if (log) {
    if (log.severity !== 'ERROR' && log.severity !== 'CRITICAL' && log.severity !== 'ALERT')
      return undefined;
    return `[fonctions] ${log.severity} ${log.message ?? ''} ${log.rest}`.trimEnd();
  }
  // firebase-tools marks problems with ⚠ (warning), ✖ or !! (error).
  if (/^\s*(⚠|✖|!!)/.test(text)) return `[émulateurs] ${text.trim()}`;
  // Uncaught errors of a function or of firebase-tools itself.
  if (/^\s*(Error|TypeError|RangeError|FirebaseError)\b/.test(text) || /\bUnhandled\b/.test(text))
    return `[émulateurs] ${text.trim()}`;
  return undefined;
}
