/**
 * The Plan: what applying a desired set to the live store would do. Produced by the pure
 * functions of src/diff, executed by src/sync/apply.
 */
import type { Operation } from 'fast-json-patch';
import type { KubeObject } from '../model/types.js';
import type { ObjectSource } from '../model/desired.js';

/** What happens to one object. */
export type PlanAction = 'create' | 'update' | 'prune' | 'unchanged';

/** One object's line in the plan. */
export interface PlanEntry {
  action: PlanAction;
  /** `Kind/namespace/name`. */
  key: string;
  kind: string;
  namespace?: string;
  name: string;
  /** The desired object (normalized, with gantry's marks), for create/update/unchanged. */
  desired?: KubeObject;
  /** The live object as stored, for update/prune/unchanged. */
  live?: KubeObject;
  /**
   * For update: JSON Patch from normalized live to normalized desired. Paths under Secret
   * `data` are present but renderers must never print their values.
   */
  patch?: Operation[];
  /** Where the desired object was declared. */
  source?: ObjectSource;
  /**
   * For create: the object as declared in the manifest (no defaults, no marks), which is what
   * a reviewer wrote and what renderers show. Shared with the loader: never modify it.
   */
  declared?: KubeObject;
  /**
   * For ConfigMap/Secret update and prune, when set by `annotateRolls`: the workloads
   * (`Kind namespace/name`) whose pods the change replaces.
   */
  rolls?: string[];
  /**
   * What a reviewer should know about the entry that its changes do not show: for a workload an
   * autoscaler scales, that its replicas are the autoscaler's (see autoscaled.ts).
   */
  notes?: string[];
}

/** The whole plan, entries in apply order (prunes in reverse order). */
export interface Plan {
  /** Desired revision the plan was made from, when known. */
  revision?: string;
  create: PlanEntry[];
  update: PlanEntry[];
  prune: PlanEntry[];
  unchanged: PlanEntry[];
}

/** True when the plan changes nothing. */
export function planIsEmpty(plan: Plan): boolean {
  return plan.create.length === 0 && plan.update.length === 0 && plan.prune.length === 0;
}

/** Counts per action. */
export interface PlanSummary {
  create: number;
  update: number;
  prune: number;
  unchanged: number;
}

/** One body line of a rendered change. */
export interface BodyLine {
  sign: '+' | '-' | '~' | ' ';
  text: string;
}

/** One changed object as the text rendering shows it: its header line and signed body lines. */
export interface PlanEntryView {
  action: 'create' | 'update' | 'prune';
  key: string;
  kind: string;
  namespace: string | null;
  name: string;
  /** `file:line` where the object is (for prune: was) declared, or null. */
  source: string | null;
  /** `+ create Deployment default/web (web/deployment.yaml:1)`. */
  header: string;
  /** The body, Secret values redacted: `+` added, `-` removed, `~` changed, ` ` context. */
  lines: BodyLine[];
  rolls?: string[];
  notes?: string[];
}
