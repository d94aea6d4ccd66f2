import type { LookupAddress, LookupOneOptions } from "node:dns";

/** Node's `lookup` signature as `net.connect` calls it (with or without `all`). */
export type LookupFunction = (
  hostname: string,
  options: LookupOneOptions | { all?: boolean; family?: number | string },
  callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
) => void;

/**
 * The lab's own name resolution: the names in `hosts` resolve to their address (127.0.0.1), every
 * other name fails with ENOTFOUND. The lab never asks the real DNS.
 *
 * @example
 * const lookup = createLabLookup({ "api.myapp.com": "127.0.0.1" });
 * net.connect({ host: "api.myapp.com", port, lookup });
 */
export function createLabLookup(hosts: Record<string, string>): LookupFunction {
  const table = new Map(Object.entries(hosts).map(([name, address]) => [name.toLowerCase(), address]));
  return (hostname, options, callback) => {
    const address = table.get(hostname.toLowerCase().replace(/\.$/, ""));
    if (address === undefined) {
      const error: NodeJS.ErrnoException = Object.assign(
        new Error(
          `getaddrinfo ENOTFOUND ${hostname} (the lab resolves only ${[...table.keys()].join(", ")})`,
        ),
        { code: "ENOTFOUND", hostname },
      );
      process.nextTick(callback, error, "", 4);
      return;
    }
    const family = address.includes(":") ? 6 : 4;
    if ((options as { all?: boolean }).all) process.nextTick(callback, null, [{ address, family }]);
    else process.nextTick(callback, null, address, family);
  };
}
