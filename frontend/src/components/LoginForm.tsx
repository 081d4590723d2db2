import { type FormEvent, useState } from 'react';
import { type AuthMode, authenticate } from '../api/auth';
import { HttpError } from '../api/httpError';
import {
  PASSWORD_MAX,
  PASSWORD_MIN,
  USERNAME_MAX,
  USERNAME_MIN,
  passwordProblem,
  usernameProblem,
} from '../limits';
import { type Session, deviceTokenFor } from '../state/session';

interface Props {
  apiUrl: string;
  /** Why the reader is here (logged out, session expired), shown above the form. */
  notice: string | null;
  onSession: (session: Session) => void;
}

/** One form for both: "Log in" submits, "Sign up" creates the account. */
export function LoginForm({ apiUrl, notice, onSession }: Props) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<AuthMode | null>(null);

  async function submit(mode: AuthMode) {
    // A stray space around the name is never meant; around a password it may be.
    const name = username.trim();
    const problem = usernameProblem(name) ?? passwordProblem(password);
    if (problem) {
      setError(problem);
      return;
    }
    setBusy(mode);
    setError(null);
    try {
      onSession(await authenticate(apiUrl, mode, name, password, deviceTokenFor(localStorage, name)));
    } catch (caught) {
      setError(caught instanceof HttpError ? caught.message : 'Something went wrong. Try again.');
      setBusy(null);
    }
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    void submit('login');
  }

  return (
    <main className="centered">
      <form className="login" onSubmit={onSubmit} noValidate aria-labelledby="login-title">
        <h1 id="login-title">Chat</h1>
        {notice && <p className="notice">{notice}</p>}
        <label htmlFor="login-username">Username</label>
        <input
          id="login-username"
          name="username"
          autoComplete="username"
          autoCapitalize="none"
          spellCheck={false}
          maxLength={USERNAME_MAX}
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          aria-describedby="login-username-hint"
          autoFocus
        />
        <small id="login-username-hint" className="hint">
          {USERNAME_MIN}–{USERNAME_MAX} letters, digits, _ . or -
        </small>
        <label htmlFor="login-password">Password</label>
        <input
          id="login-password"
          name="password"
          type="password"
          autoComplete="current-password"
          maxLength={PASSWORD_MAX}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          aria-describedby="login-password-hint"
        />
        <small id="login-password-hint" className="hint">
          At least {PASSWORD_MIN} characters
        </small>
        <p className="error" role="alert">
          {error}
        </p>
        <div className="buttons">
          <button type="submit" disabled={busy !== null}>
            {busy === 'login' ? 'Logging in…' : 'Log in'}
          </button>
          <button type="button" className="secondary" disabled={busy !== null} onClick={() => void submit('signup')}>
            {busy === 'signup' ? 'Signing up…' : 'Sign up'}
          </button>
        </div>
      </form>
    </main>
  );
}
