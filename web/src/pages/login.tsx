/**
 * Signing in: the same bearer token kubectl uses (the admin token of `<data-dir>/kubeconfig`, or
 * one made with `gantry token create`). It is checked against the API, then kept for this tab.
 */
import { useState } from 'preact/hooks';
import { ApiError, GANTRY, getJson, signIn } from '../api';

/** The sign-in page. */
export function Login({ expired, onSignedIn }: { expired: boolean; onSignedIn: () => void }) {
  const [secret, setSecret] = useState('');
  const [error, setError] = useState<string | undefined>(expired ? 'The server no longer accepts that token: sign in again.' : undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const t = secret.trim();
    if (!t) return setError('Paste a token first.');
    setBusy(true);
    try {
      await getJson(`${GANTRY}/status`, { secret: t });
      signIn(t);
      onSignedIn();
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'The server does not know this token (revoked, or from another data directory).' : `Cannot reach the API: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit} aria-describedby="login-help">
        <h1>gantry</h1>
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autoComplete="off" autoFocus value={secret} onInput={(e) => setSecret((e.target as HTMLInputElement).value)} />
        <p id="login-help" class="muted">
          The admin token is the <code>token:</code> line of <code>&lt;data-dir&gt;/kubeconfig</code>
          (<code>/var/lib/gantry/kubeconfig</code> for root); <code>gantry token create NAME --role read-only</code> makes one for reading.
          It is kept for this tab only.
        </p>
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? 'Checking…' : 'Sign in'}</button>
      </form>
    </main>
  );
}
