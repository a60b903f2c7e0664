/**
 * Keyboard use: `g o` / `g n` / `g p` go to the overview, the namespaces, the plan; `j` / `k`
 * move between the rows of a page (every row is a link or a button, so Enter opens it); `/`
 * goes to the page's filter; `t` switches the theme; `?` lists these. Keys typed into a field
 * are left alone.
 */
import { useEffect, useRef } from 'preact/hooks';
import { useLocation } from 'wouter-preact';
import { toggleTheme } from './theme';

const SHORTCUTS: [string, string][] = [
  ['g o', 'overview'],
  ['g n', 'namespaces'],
  ['g p', 'plan'],
  ['j / k', 'next / previous row'],
  ['Enter', 'open the focused row'],
  ['/', 'filter or search on this page'],
  ['1 – 4', 'object page tabs: YAML, events, logs (pods and workloads), history'],
  ['t', 'light / dark theme'],
  ['?', 'this list'],
  ['Esc', 'close'],
];

function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT' || el.isContentEditable);
}

/** Moves the focus `step` rows (elements marked `data-row`) from the focused one. */
export function moveRow(step: number): void {
  const rows = [...document.querySelectorAll<HTMLElement>('main [data-row]')].filter((r) => r.offsetParent !== null);
  if (rows.length === 0) return;
  const at = rows.findIndex((r) => r === document.activeElement || r.contains(document.activeElement));
  const next = at < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, at + step));
  rows[next]!.focus();
  rows[next]!.scrollIntoView({ block: 'nearest' });
}

/** Installs the shortcuts for as long as the calling component lives. */
export function useShortcuts(opts: { onHelp: () => void }): void {
  const [, navigate] = useLocation();
  const pendingG = useRef(0);
  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
      const now = Date.now();
      if (now - pendingG.current < 1500) {
        pendingG.current = 0;
        const to = ({ o: '/', n: '/ns', p: '/plan' } as Record<string, string>)[e.key];
        if (to) {
          e.preventDefault();
          navigate(to);
        }
        return;
      }
      switch (e.key) {
        case 'g': pendingG.current = now; return;
        case 'j': e.preventDefault(); moveRow(1); return;
        case 'k': e.preventDefault(); moveRow(-1); return;
        case 't': toggleTheme(); return;
        case '?': opts.onHelp(); return;
        case '/': {
          const filter = document.querySelector<HTMLInputElement>('main [data-filter]');
          if (filter) {
            e.preventDefault();
            filter.focus();
          }
        }
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [navigate, opts.onHelp]);
}

/** The list of shortcuts, as a modal dialog. */
export function ShortcutHelp({ onClose }: { onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  return (
    <dialog ref={ref} class="help" onClose={onClose} aria-label="Keyboard shortcuts">
      <h2>Keyboard shortcuts</h2>
      <table>
        <tbody>{SHORTCUTS.map(([k, what]) => <tr key={k}><td><kbd>{k}</kbd></td><td>{what}</td></tr>)}</tbody>
      </table>
      <form method="dialog"><button type="submit" autoFocus>Close</button></form>
    </dialog>
  );
}
