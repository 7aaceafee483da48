/// <reference types="vite/client" />

// Build-time defaults for the connection fields (both optional; the UI can change them).
interface ImportMetaEnv {
  readonly VITE_TOLLGATE_URL?: string;
  readonly VITE_TOLLGATE_KEY?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
