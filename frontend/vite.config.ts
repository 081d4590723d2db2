import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// The repository root: the site imports chalicelib/limits.json from there (the
// one copy of the protocol limits), so the dev server must be allowed to read it.
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

// `npm run dev` serves the site with hot reload; the API itself comes from a
// running `chatapp serve`. Only /config.json is proxied: it carries absolute
// apiUrl/wsUrl, and the local server answers CORS for any origin.
const chatServer = process.env.CHAT_SERVER ?? 'http://127.0.0.1:8000';

export default defineConfig({
  plugins: [react()],
  server: {
    host: '127.0.0.1',
    fs: { allow: [repoRoot] },
    proxy: { '/config.json': chatServer },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
});
