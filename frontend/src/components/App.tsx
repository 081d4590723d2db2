import { useCallback, useEffect, useState } from 'react';
import type { SiteConfig } from '../config';
import { SESSION_EXPIRED } from '../state/chatClient';
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
      onLogout={() => signedOut('You are logged out.')}
      onSessionEnded={signedOut}
    />
  );
}
