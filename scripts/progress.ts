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
 * "420/1320 photos · 6.8/s · reste ~2 min 12 s". The rate is the average since the start: the
 * work is uniform (one photo after another) and the average does not jump around.
 * No estimate before a few items are done: the first ones include warm-up.
 */
export function progressLine(
  done: number,
  total: number,
  elapsedMs: number,
  unit = 'photos',
): string {
  const head = `${done}/${total} ${unit}`;
  if (done < 3 || elapsedMs <= 0) return head;
  const rate = done / (elapsedMs / 1000);
  const left = done >= total ? '' : ` · reste ~${formatDuration(((total - done) / rate) * 1000)}`;
  return `${head} · ${rate.toFixed(1)}/s${left}`;
}

/** Calls `print` with a progress line at most every `everyMs`, and always for the last item. */
export function throttledProgress(
  total: number,
  print: (line: string) => void,
  options: { everyMs?: number; unit?: string; now?: () => number } = {},
): (done: number) => void {
  const now = options.now ?? Date.now;
  const everyMs = options.everyMs ?? 10_000;
  const started = now();
  let lastPrinted = started;
  return (done) => {
    const t = now();
    if (done < total && t - lastPrinted < everyMs) return;
    lastPrinted = t;
    print(progressLine(done, total, t - started, options.unit));
  };
}
