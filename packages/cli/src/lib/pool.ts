/**
 * Maps `items` through `work` with at most `concurrency` calls in flight, keeping the input order.
 * `onDone` is called after each item (for progress).
 *
 * @example
 * const results = await mapConcurrent(hosts, 32, (host) => check(host));
 */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<R>,
  onDone?: (done: number, total: number) => void,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
      done++;
      onDone?.(done, items.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return results;
}
