/**
 * The plan page: what a branch, tag or commit would change against the live state, exactly as
 * `gantry plan REF --live` prints it (the same code runs on the server), with its capacity check.
 */
import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'wouter-preact';
import type { PlanResponse } from '../../../src/api/plan-types.js';
import { GANTRY, getJson } from '../api';
import { SignedLines } from '../components/diff';
import { firstLine, shortSha } from '../lib/format';

/** The plan page; `initialRef` comes from the address (`#/plan/feature`). */
export function PlanPage({ initialRef }: { initialRef?: string }) {
  const [, navigate] = useLocation();
  const [ref, setRef] = useState(initialRef ?? '');
  const [plan, setPlan] = useState<PlanResponse>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  // Planning the same ref again (its branch may have moved) changes no address: count instead.
  const [again, setAgain] = useState(0);
  useEffect(() => {
    const ac = new AbortController();
    setBusy(true);
    setError(undefined);
    const q = initialRef ? `?ref=${encodeURIComponent(initialRef)}` : '';
    getJson<PlanResponse>(`${GANTRY}/plan${q}`, { signal: ac.signal })
      .then((p) => setPlan(p), (err: unknown) => {
        if (!ac.signal.aborted) {
          setPlan(undefined);
          setError(err instanceof Error ? err.message : String(err));
        }
      })
      .finally(() => {
        if (!ac.signal.aborted) setBusy(false);
      });
    return () => ac.abort();
  }, [initialRef, again]);
  const submit = (e: Event): void => {
    e.preventDefault();
    const r = ref.trim();
    if (r === (initialRef ?? '')) setAgain((n) => n + 1);
    else navigate(r ? `/plan/${encodeURIComponent(r)}` : '/plan');
  };
  return (
    <div class="plan">
      <h1>Plan</h1>
      <form class="planform" onSubmit={submit}>
        <label for="ref">Branch, tag or commit</label>
        <input id="ref" data-filter value={ref} placeholder="the followed ref" onInput={(e) => setRef((e.target as HTMLInputElement).value)} />
        {/* Never disabled: Enter in the field must plan the new ref even while another plan runs. */}
        <button type="submit">{busy ? 'Planning…' : 'Plan against live'}</button>
        <span class="muted">Any revision: <code>feature</code>, <code>main~1</code>, <code>v1.2</code>, a commit id.</span>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      {plan && <PlanResult plan={plan} />}
    </div>
  );
}

function PlanResult({ plan }: { plan: PlanResponse }) {
  const what = `${plan.desired.ref}@${shortSha(plan.desired.commit)}`;
  if (!plan.valid) {
    return (
      <section data-testid="plan-result">
        <h2 class="bad">{what} is invalid ({plan.issues.length} problem{plan.issues.length === 1 ? '' : 's'}); nothing from it would be applied</h2>
        <ul>{plan.issues.map((i, n) => <li key={n}><span class="mono">{i.file}{i.line ? `:${i.line}` : ''}</span>{i.object ? ` ${i.object}` : ''}{i.field ? ` (${i.field})` : ''}: {i.message}</li>)}</ul>
      </section>
    );
  }
  const s = plan.summary;
  return (
    <section data-testid="plan-result">
      <h2>Plan for {what} against the live state</h2>
      <p class="muted">{firstLine(plan.desired.message)}{plan.desired.author ? ` — ${plan.desired.author.name}` : ''}</p>
      <p class="summary-line"><b>Plan: {s.create} to create, {s.update} to update, {s.prune} to prune, {s.unchanged} unchanged.</b></p>
      {!plan.changes && <p class="ok">No changes: the live state matches the desired revision.</p>}
      {plan.entries.map((e) => (
        <article key={e.key} class={`change act-${e.action}`}>
          <h3 class="mono">{e.header}</h3>
          <SignedLines lines={e.lines} />
        </article>
      ))}
      {plan.capacity && <p class={plan.capacity.fits ? 'ok' : 'bad'}>{plan.capacity.text}</p>}
    </section>
  );
}
