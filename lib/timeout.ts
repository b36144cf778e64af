// The one deadline helper. A promise cannot be cancelled: past the deadline the work goes on,
// callers just stop waiting for it.

/** Rejects with `error()` if `work` has not settled within `ms`. */
export function withTimeout<T>(work: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), Math.max(0, ms));
    timer.unref();
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** Waits for `work` at most `ms`; true when it settled (either way) in time. Never rejects. */
export function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  const TIMED_OUT = new Error('deadline');
  return withTimeout(work, ms, () => TIMED_OUT).then(() => true, (err: unknown) => err !== TIMED_OUT);
}
