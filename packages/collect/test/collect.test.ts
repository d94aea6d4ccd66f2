// The collector's suite (suite.ts) on the embedded store: SQLite (sql.js) files.
import { collectorSuite, sqliteBackend } from "./suite.js";

collectorSuite(sqliteBackend());
