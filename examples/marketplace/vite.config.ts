// Vite: fixed loopback ports, so the origin given to `tollgate serve --cors-origin` is known.
import { defineConfig } from "vite";

export default defineConfig({
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
  preview: { host: "127.0.0.1", port: 4173, strictPort: true },
  build: { target: "es2022" },
});
