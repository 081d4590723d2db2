// GET {apiUrl}/health: whether the server answers at all. The chat asks it when
// handshakes keep failing, to tell "token refused" (browsers hide the
// handshake's 401) from "server down".

/** True when the server answered /health with 2xx; false for any other answer or none. */
export async function serverAnswers(apiUrl: string, fetchImpl: typeof fetch = fetch): Promise<boolean> {
  try {
    return (await fetchImpl(`${apiUrl}/health`, { cache: 'no-store' })).ok;
  } catch {
    return false;
  }
}
