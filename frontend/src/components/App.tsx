import { useCallback, useEffect, useMemo, useState } from 'react';
import { endSession } from '../api/auth';
import type { SiteConfig } from '../api/config';
import { SESSION_EXPIRED } from '../state/sessionWatch';
import { SessionRefresher } from '../state/refresher';
import { renewSession } from '../state/renewal';
import { type Session, clearSession, loadSession, saveSession } from '../state/session';
import { ChatView } from './ChatView';
import { LoginForm } from './LoginForm';

type ConfigState = { kind: 'loading' } | { kind: 'ready'; config: SiteConfig } | { kind: 'failed'; error: string };

/** Waits for /config.json, then shows the login form or the chat. */
export function App({ config: configPromise }: { config: Promise<SiteConfig> }) {
  const [config, setConfig] = useState<ConfigState>({ kind: 'loading' });
  const [stored] = useState(() => loadSession(localStorage));
  // The access token is never stored: a reload resumes with the stored refresh token.
  const [resuming, setResuming] = useState(stored.stored !== null);
  const [session, setSession] = useState<Session | null>(null);
  const [formNotice, setFormNotice] = useState<string | null>(stored.expired ? SESSION_EXPIRED : null);

  useEffect(() => {
    configPromise.then(
      (loaded) => setConfig({ kind: 'ready', config: loaded }),
      (error: unknown) => setConfig({ kind: 'failed', error: String((error as Error).message ?? error) }),
    );
  }, [configPromise]);

  const signedIn = useCallback((next: Session) => {
    saveSession(localStorage, next);
    setFormNotice(null);
    setSession(next);
  }, []);

  const signedOut = useCallback((notice: string) => {
    clearSession(localStorage);
    setFormNotice(notice);
    setSession(null);
  }, []);

  const apiUrl = config.kind === 'ready' ? config.config.apiUrl : null;
  const username = session?.username ?? stored.stored?.username ?? null;
  // Made with the config, in the same render that first shows the chat.
  const refresher = useMemo(
    () =>
      apiUrl === null || username === null
        ? null
        : new SessionRefresher({
            // renewSession stores the new refresh token (never the access token).
            refresh: () => renewSession({ apiUrl, store: localStorage, username }),
            onRefreshed: setSession,
            onFailed: signedOut,
          }),
    [apiUrl, username, signedOut],
  );
  // A reload: the stored refresh token buys this tab its own access token.
  useEffect(() => {
    if (!resuming || apiUrl === null || username === null) return;
    let live = true;
    renewSession({ apiUrl, store: localStorage, username }).then(
      (next) => {
        if (!live) return;
        setSession(next);
        setResuming(false);
      },
      (error: unknown) => {
        if (!live) return;
        setResuming(false);
        signedOut(error instanceof Error ? error.message : String(error));
      },
    );
    return () => {
      live = false;
    };
  }, [resuming, apiUrl, username, signedOut]);
  // Renewed before it expires (at once on load when less than an hour is left).
  useEffect(() => {
    if (!refresher || !session) return;
    refresher.start(session);
    return () => refresher.stop();
  }, [refresher, session]);
  const refresh = useCallback(() => refresher?.refreshNow() ?? Promise.resolve(null), [refresher]);

  const logOut = useCallback(async () => {
    const token = session?.token;
    refresher?.stop();
    const reached = apiUrl !== null && token !== undefined && (await endSession(apiUrl, token));
    signedOut(
      reached
        ? 'You are logged out.'
        : 'You are logged out on this device, but the server could not be reached: your session stays valid elsewhere until it expires.',
    );
  }, [apiUrl, refresher, session, signedOut]);

  if (config.kind === 'loading') {
    return <main className="centered" aria-busy="true">Loading…</main>;
  }
  if (config.kind === 'failed') {
    return (
      <main className="centered">
        <div>
          <p role="alert" className="error">
            The chat cannot start: {config.error}.
          </p>
          <button type="button" onClick={() => window.location.reload()}>
            Try again
          </button>
        </div>
      </main>
    );
  }
  if (resuming) {
    return <main className="centered" aria-busy="true">Signing you in…</main>;
  }
  if (!session) {
    return <LoginForm apiUrl={config.config.apiUrl} notice={formNotice} onSession={signedIn} />;
  }
  return (
    <ChatView
      config={config.config}
      session={session}
      onLogout={logOut}
      onSessionEnded={signedOut}
      refresh={refresh}
    />
  );
}
