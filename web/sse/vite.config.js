// Built into dist/, which servers/sse serves at / (relative asset paths: any mount point works).
// `npm run dev` proxies the API to a local servers/sse on its default port.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  base: "./",
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true },
  server: {
    proxy: { "/events": "http://127.0.0.1:8095", "/publish": "http://127.0.0.1:8095", "/stats": "http://127.0.0.1:8095" },
  },
});
