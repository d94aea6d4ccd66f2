// Statistics for the benchmarks: medians and spreads of rounds, A/B alternation, least squares.

export interface Summary {
  rounds: number;
  median: number;
  min: number;
  max: number;
  /** First and third quartiles (linear interpolation). */
  q1: number;
  q3: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) throw new Error("quantile of an empty sample");
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
}

export function summarize(values: number[]): Summary {
  const sorted = [...values].sort((x, y) => x - y);
  return {
    rounds: sorted.length,
    median: quantile(sorted, 0.5),
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75),
  };
}

/**
 * A distribution-free 95% confidence interval for the median of `values` (from the binomial distribution
 * of the ranks, normal approximation): the true median of the process the rounds were drawn from lies
 * between `low` and `high` with about 95% confidence. Needs at least 6 values.
 */
export function medianInterval(values: number[]): { low: number; high: number } {
  const n = values.length;
  if (n < 6) throw new Error(`a confidence interval for the median needs at least 6 values, got ${n}`);
  const sorted = [...values].sort((x, y) => x - y);
  const half = (1.96 * Math.sqrt(n)) / 2;
  const lowRank = Math.max(1, Math.floor(n / 2 - half)); // 1-based ranks
  const highRank = Math.min(n, Math.ceil(n / 2 + half) + 1);
  return { low: sorted[lowRank - 1]!, high: sorted[highRank - 1]! };
}

/** Ratios of each round's B to the same round's A (paired), in round order. */
export function ratiosOf(a: number[], b: number[]): number[] {
  const n = Math.min(a.length, b.length);
  const ratios: number[] = [];
  for (let i = 0; i < n; i++) ratios.push(b[i]! / a[i]!);
  return ratios;
}

export interface Side {
  name: string;
  /** Runs one round and returns its value (higher or lower is better: the caller knows). */
  run: () => Promise<number> | number;
}

/**
 * Runs `rounds` rounds of every side, alternating the order each round (A B, B A, A B…) so that
 * drift on a shared machine (other processes, thermal, GC) falls on both sides alike.
 * `warmup` rounds per side run first and are discarded.
 */
export async function alternate(sides: Side[], rounds: number, warmup = 1): Promise<Map<string, number[]>> {
  const values = new Map<string, number[]>(sides.map((s) => [s.name, []]));
  for (let w = 0; w < warmup; w++) for (const side of sides) await side.run();
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) values.get(side.name)!.push(await side.run());
  }
  return values;
}

/** Ratio of each round's B to the same round's A (paired), summarized. */
export function pairedRatios(a: number[], b: number[]): Summary {
  return summarize(ratiosOf(a, b));
}

export interface Fit {
  slope: number;
  intercept: number;
  /** Standard error of the slope. */
  slopeStdErr: number;
  r2: number;
  n: number;
}

/** Ordinary least squares y = intercept + slope·x. */
export function leastSquares(xs: number[], ys: number[]): Fit {
  const n = Math.min(xs.length, ys.length);
  if (n < 3) throw new Error(`least squares needs at least 3 points, got ${n}`);
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    sx += xs[i]!;
    sy += ys[i]!;
  }
  const mx = sx / n;
  const my = sy / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx;
    const dy = ys[i]! - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  let sse = 0;
  for (let i = 0; i < n; i++) {
    const e = ys[i]! - (intercept + slope * xs[i]!);
    sse += e * e;
  }
  const slopeStdErr = Math.sqrt(sse / (n - 2) / sxx);
  return { slope, intercept, slopeStdErr, r2: syy === 0 ? 1 : 1 - sse / syy, n };
}

/** Runs `fn` `total` times with `concurrency` loops in flight; returns elapsed milliseconds. */
export async function drive(
  total: number,
  concurrency: number,
  fn: (i: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const start = performance.now();
  const loops = Array.from({ length: Math.min(concurrency, total) }, async () => {
    while (next < total) {
      const i = next++;
      await fn(i);
    }
  });
  await Promise.all(loops);
  return performance.now() - start;
}
