/**
 * The shell: sign-in gate, header with navigation and the feed's state, routes, and the
 * keyboard shortcuts that work on every page.
 */
import { useEffect, useState } from 'preact/hooks';
import { Link, Route, Router, Switch, useLocation } from 'wouter-preact';
import { useHashLocation } from 'wouter-preact/use-hash-location';
import { onUnauthorized, signOut, token } from './api';
import { resetClusterFeed, useCluster } from './cluster';
import { useShortcuts, ShortcutHelp } from './keys';
import { Login } from './pages/login';
import { Namespaces, NamespaceView } from './pages/namespace';
import { ObjectPage } from './pages/object';
import { Overview } from './pages/overview';
import { PlanPage } from './pages/plan';
import { toggleTheme } from './theme';

/** The whole page. */
export function App() {
  const [signedIn, setSignedIn] = useState(token() !== undefined);
  const [expired, setExpired] = useState(false);
  useEffect(() => onUnauthorized(() => {
    signOut();
    resetClusterFeed();
    setExpired(true);
    setSignedIn(false);
  }), []);
  if (!signedIn) return <Login expired={expired} onSignedIn={() => { setExpired(false); setSignedIn(true); }} />;
  return (
    <Router hook={useHashLocation}>
      <Shell onSignOut={() => { signOut(); resetClusterFeed(); setSignedIn(false); }} />
    </Router>
  );
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const feed = useCluster();
  const [location] = useLocation();
  const [help, setHelp] = useState(false);
  useShortcuts({ onHelp: () => setHelp((h) => !h) });
  const nav = (href: string, label: string, key: string) => (
    <Link href={href} className={location === href || (href !== '/' && location.startsWith(href)) ? 'active' : ''} title={`${label} (g ${key})`}>{label}</Link>
  );
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
      <header class="top">
        <span class="brand">gantry</span>
        <nav aria-label="Main">
          {nav('/', 'Overview', 'o')}
          {nav('/ns', 'Namespaces', 'n')}
          {nav('/plan', 'Plan', 'p')}
        </nav>
        <span class={`feed feed-${feed.state}`} role="status" title={feed.problem ?? ''}>
          {feed.state === 'live' ? 'live' : feed.state === 'loading' ? 'loading…' : 'reconnecting…'}
        </span>
        <button type="button" class="ghost" onClick={toggleTheme} title="Switch theme (t)">Theme</button>
        <button type="button" class="ghost" onClick={() => setHelp(true)} title="Keyboard shortcuts (?)">Keys</button>
        <button type="button" class="ghost" onClick={onSignOut}>Sign out</button>
      </header>
      <main id="main" tabIndex={-1}>
        {feed.state === 'loading' ? <p class="muted">Loading the cluster…</p> : (
          <Switch>
            <Route path="/" component={Overview} />
            <Route path="/ns" component={Namespaces} />
            <Route path="/ns/:namespace">{(p) => <NamespaceView namespace={decodeURIComponent(p.namespace)} />}</Route>
            <Route path="/o/:kind/:namespace/:name/:tab?">
              {(p) => <ObjectPage kind={p.kind} namespace={p.namespace === '_' ? undefined : decodeURIComponent(p.namespace)} name={decodeURIComponent(p.name)} tab={p.tab} />}
            </Route>
            <Route path="/plan/:ref?">{(p) => <PlanPage initialRef={p.ref ? decodeURIComponent(p.ref) : undefined} />}</Route>
            <Route><p>No such page. <Link href="/">Back to the overview</Link>.</p></Route>
          </Switch>
        )}
      </main>
      {help && <ShortcutHelp onClose={() => setHelp(false)} />}
    </>
  );
}
