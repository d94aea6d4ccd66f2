export { type Alert, type AlertOptions, AlertSender } from "./alerts.js";
export {
  type Classification,
  type ClassifiedReport,
  type ClassifyOptions,
  classify,
  classifyReport,
  groupKey,
  type IngestedReport,
  parseReport,
  ReportRejected,
  type ReportSource,
} from "./ingest.js";
export { databaseSecrets, describeDatabase, redactDatabaseSecrets } from "./redact.js";
export {
  type Collector,
  type CollectorOptions,
  clientOf,
  createCollectorServer,
  DEFAULT_GROUPS_PAGE,
  DEFAULT_SERIES_POINTS,
  isAllowedCollectorHost,
  MAX_GROUPS_PAGE,
  MAX_REPORT_BYTES,
  MAX_SERIES_POINTS,
  startCollector,
} from "./server.js";
export {
  CLASSIFICATION_SHARES,
  DEFAULT_MAX_STORED_BYTES,
  type GroupFilter,
  type GroupRecord,
  type GroupUpsert,
  groupBytes,
  openPostgresStore,
  openSqliteStore,
  openStore,
  type RecordOutcome,
  type Refusal,
  type ReportStore,
  type SeriesPoint,
  type StoreOptions,
  type StoreUsage,
} from "./store.js";
