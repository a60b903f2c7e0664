/**
 * The plan route's answer, as data: shared by the server (src/api/plan.ts) and the web
 * dashboard, which imports these types only.
 */
import type { PlanEntryView, PlanSummary } from '../diff/types.js';
import type { ManifestIssue } from '../sync/types.js';

/** The capacity check of a plan (the scheduler's PlanCapacity, of which the page reads these). */
export interface PlanCapacityView {
  /** Pods the plan adds. */
  added: number;
  /** Whether they all fit. */
  fits: boolean;
  /** `gantry plan`'s capacity line(s). */
  text: string;
}

/** The revision a plan was made of, as the plan route names it. */
export interface PlannedRevision {
  ref: string;
  commit: string;
  message?: string;
  author?: { name: string; email: string; timestamp: number };
}

/** The plan route's answer. */
export type PlanResponse =
  | {
      valid: true;
      desired: PlannedRevision;
      /** Always `live`: the route plans against what runs. */
      against: 'live';
      summary: PlanSummary;
      /** False when the revision changes nothing. */
      changes: boolean;
      entries: PlanEntryView[];
      capacity?: PlanCapacityView;
      /** `gantry plan`'s text output (no colours), capacity line included. */
      text: string;
    }
  | { valid: false; desired: PlannedRevision; issues: ManifestIssue[] };
