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
export {
  type Collector,
  type CollectorOptions,
  createCollectorServer,
  MAX_REPORT_BYTES,
  startCollector,
} from "./server.js";
export {
  type GroupRecord,
  type GroupUpsert,
  openPostgresStore,
  openSqliteStore,
  openStore,
  type RecordOutcome,
  type ReportStore,
  type SeriesPoint,
} from "./store.js";
