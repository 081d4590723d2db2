import { useCallback, useEffect, useMemo, useState } from 'react';
import { endSession, refreshSession } from '../api/auth';
import type { SiteConfig } from '../config';
import { SESSION_EXPIRED } from '../state/chatClient';
import { SessionRefresher } from '../state/refresher';
import { type Session, clearSession, loadSession, saveSession } from '../state/session';
import { ChatView } from './ChatView';
import { LoginForm } from './LoginForm';

type ConfigState = { kind: 'loading' } | { kind: 'ready'; config: SiteConfig } | { kind: 'failed'; error: string };

/** Waits for /config.json, then shows the login form or the chat. */
export function App({ config: configPromise }: { config: Promise<SiteConfig> }) {
  const [config, setConfig] = useState<ConfigState>({ kind: 'loading' });
  const [stored] = useState(() => loadSession(localStorage));
  const [session, setSession] = useState<Session | null>(stored.session);
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
  // Made with the config, in the same render that first shows the chat.
  const refresher = useMemo(
    () =>
      apiUrl === null
        ? null
        : new SessionRefresher({
            refresh: (token) => refreshSession(apiUrl, token),
            onRefreshed: (next) => {
              saveSession(localStorage, next);
              setSession(next);
            },
            onFailed: signedOut,
          }),
    [apiUrl, signedOut],
  );
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
