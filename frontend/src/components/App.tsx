import { useCallback, useEffect, useState } from 'react';
import { type SiteConfig, loadConfig } from '../config';
import { type Session, clearSession, loadSession, saveSession } from '../state/session';
import { ChatView } from './ChatView';
import { LoginForm } from './LoginForm';

type ConfigState = { kind: 'loading' } | { kind: 'ready'; config: SiteConfig } | { kind: 'failed'; error: string };

/** Reads /config.json, then shows the login form or the chat. */
export function App() {
  const [config, setConfig] = useState<ConfigState>({ kind: 'loading' });
  const [session, setSession] = useState<Session | null>(() => loadSession(localStorage));
  const [formNotice, setFormNotice] = useState<string | null>(null);

  useEffect(() => {
    loadConfig().then(
      (loaded) => setConfig({ kind: 'ready', config: loaded }),
      (error: unknown) => setConfig({ kind: 'failed', error: String((error as Error).message ?? error) }),
    );
  }, []);

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
        <p role="alert" className="error">
          The chat cannot start: {config.error}.
        </p>
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
