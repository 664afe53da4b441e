/**
 * Progress lines of long local operations (first-run import, training): count, rate and an
 * estimated time left, printed at most every few seconds so the console stays readable.
 */

/** "2 min 05 s", "45 s", "3.2 s", "1 h 03 min". */
export function formatDuration(ms: number): string {
  if (ms < 9950) return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
  const total = Math.round(ms / 1000);
  if (total < 60) return `${total} s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes} min ${String(total % 60).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/**
 * "420/1320 photos · 6.8/s · reste ~2 min 12 s", at `rate` items per second. No rate (too early
 * to tell) gives the count alone; the last item gives no time left.
 */
export function progressLine(done: number, total: number, rate?: number, unit = 'photos'): string {
  const head = `${done}/${total} ${unit}`;
  if (rate === undefined || !(rate > 0)) return head;
  const left = done >= total ? '' : ` · reste ~${formatDuration(((total - done) / rate) * 1000)}`;
  return `${head} · ${rate.toFixed(1)}/s${left}`;
}

/**
 * Calls `print` with a progress line at most every `everyMs`, and always for the last item.
 * The rate is measured over the last `windowMs`: the first items are slow (worker processes
 * starting) and an average since the start would overstate the time left for minutes.
 */
export function throttledProgress(
  total: number,
  print: (line: string) => void,
  options: { everyMs?: number; windowMs?: number; unit?: string; now?: () => number } = {},
): (done: number) => void {
  const now = options.now ?? Date.now;
  const everyMs = options.everyMs ?? 15_000;
  const windowMs = options.windowMs ?? 60_000;
  const samples: { t: number; done: number }[] = [{ t: now(), done: 0 }];
  let lastPrinted = now();
  return (done) => {
    const t = now();
    samples.push({ t, done });
    while (samples.length > 2 && t - (samples[1] as { t: number }).t >= windowMs) samples.shift();
    if (done < total && t - lastPrinted < everyMs) return;
    lastPrinted = t;
    const first = samples[0] as { t: number; done: number };
    const rate =
      done >= 3 && t > first.t ? (done - first.done) / ((t - first.t) / 1000) : undefined;
    print(progressLine(done, total, rate, options.unit));
  };
}
