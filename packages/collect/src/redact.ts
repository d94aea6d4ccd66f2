/**
 * A `--database` value as it may be shown: every password-like part masked, whatever the form. pg takes the
 * password from a URL's userinfo (`postgres://u:SECRET@h/db`) and also from its query (`?password=SECRET`,
 * and `sslpassword=` for an encrypted client key), and libpq's key=value form (`host=h password=SECRET`)
 * carries it as a word; each of those is masked here, and any parameter whose name holds "pass", "secret" or
 * "token".
 */
const SECRET_NAME = /pass|secret|token/i;
const MASK = "***";

/**
 * A postgres:// connection string parsed as pg parses it (pg-connection-string's steps: spaces and stray '%'
 * encoded, WHATWG URL against postgres://base, a dummy host for `@/`), without its side effects (it reads
 * the sslcert/sslkey/sslrootcert files). WHATWG URL ends the userinfo at the last '@' before the host.
 */
function parseAsPg(database: string): URL | undefined {
  let s = database;
  if (/ |%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(s)) s = encodeURI(s).replace(/%25(\d\d)/g, "%$1");
  for (const candidate of [s, s.replace("@/", "@___DUMMY___/")]) {
    try {
      return new URL(candidate, "postgres://base");
    } catch {
      // pg retries with a dummy host, then gives up
    }
  }
  return undefined;
}

/** `name=value` words of libpq's key=value form (a value may be single-quoted with \' and \\ escapes). */
const KEY_VALUE = /([A-Za-z_][A-Za-z0-9_]*)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'&]+)/g;

/**
 * A URL's userinfo as WHATWG URL (and so pg) reads it: the authority ends at the first '/', '?' or '#', and
 * the userinfo at the last '@' in it, so `u:p@ss@host` is user u, password p@ss.
 */
const USERINFO = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)@/i;

/** The secret values in `database` (as written and percent-decoded), longest first: what must never be shown. */
export function databaseSecrets(database: string): string[] {
  const found = new Set<string>();
  const add = (value: string | undefined | null): void => {
    if (!value) return;
    found.add(value);
    try {
      found.add(decodeURIComponent(value));
    } catch {
      // not percent-encoded
    }
    found.add(encodeURIComponent(value));
  };
  // What pg reads: its parser (WHATWG URL) ends the userinfo at the last '@' before the host, so a raw '@' is
  // part of the password; the query's password-like parameters override it, and both are secrets.
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(database) ? parseAsPg(database) : undefined;
  if (url) {
    add(url.password);
    for (const [name, value] of url.searchParams) if (SECRET_NAME.test(name)) add(value);
  }
  const userinfo = USERINFO.exec(database);
  if (userinfo?.[1]?.includes(":")) add(userinfo[1].slice(userinfo[1].indexOf(":") + 1));
  for (const m of database.matchAll(KEY_VALUE)) {
    if (SECRET_NAME.test(m[1] as string)) {
      const value = m[3] as string;
      add(value);
      if (value.startsWith("'")) add(value.slice(1, -1).replace(/\\(.)/g, "$1"));
    }
  }
  // Masking a one-character "secret" would mangle every message; such a password is masked by its place only.
  return [...found].filter((s) => s.length >= 2).sort((a, b) => b.length - a.length);
}

/**
 * `text` with every password-like parameter of any URL or key=value form in it masked, and every secret value
 * of `database` replaced wherever it appears (pg's errors may echo parts of the connection string).
 */
export function redactDatabaseSecrets(text: string, database: string): string {
  // The known secrets first: one may hold what ends a URL's userinfo in text (a space, a '/').
  let out = text;
  for (const secret of databaseSecrets(database)) out = out.split(secret).join(MASK);
  out = out.replace(
    /([a-z][a-z0-9+.-]*:\/\/)([^/?#\s:]*):([^/?#\s]*)@/gi,
    (_m, scheme: string, user: string) => `${scheme}${user}:${MASK}@`,
  );
  out = out.replace(KEY_VALUE, (m, name: string, eq: string) =>
    SECRET_NAME.test(name) ? `${name}${eq}${MASK}` : m,
  );
  return out;
}

/** The database as shown to the user: a SQLite file as given, a connection string with its secrets masked. */
export function describeDatabase(database: string): string {
  return redactDatabaseSecrets(database, database);
}
