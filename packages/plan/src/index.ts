// @keypin/plan: plans pin rotations against certificate renewals and app releases. Pure data and dates.

export { ariCertId, parseRenewalInfo, type RenewalWindow, revocationDeadlineDays } from "./ari.js";
export { formatDay } from "./dates.js";
export { isLate, releaseDeadlines } from "./deadlines.js";
export { escapeText, foldLine, type PlanEvent, planEvents, renderIcs } from "./ics.js";
export { defaultHorizonDays, planHost, planPins } from "./plan.js";
export {
  type LifetimeStep,
  lifetimeBeforeSchedule,
  lifetimeSchedule,
  lifetimeScheduleSource,
  maxLifetimeDays,
  projectRenewals,
  renewalDate,
  renewalFraction,
} from "./schedule.js";
export { escapeXml, renderSvg } from "./svg.js";
export type {
  ChangeReason,
  HostPlan,
  HostStatus,
  PinPlan,
  Plan,
  PlanCaFamily,
  PlanCertificate,
  PlanFinding,
  PlanHostInput,
  PlanOptions,
} from "./types.js";
