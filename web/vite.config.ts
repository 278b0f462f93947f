import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// The built files are embedded into the dualcarbon binary (crates/console), which serves them at
// `/`. `npm run dev` proxies the API to a running `dualcarbon serve` on 127.0.0.1:8080.
export default defineConfig({
  plugins: [vue()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      output: {
        manualChunks: { echarts: ['echarts/core', 'echarts/charts', 'echarts/components', 'echarts/renderers'] },
      },
    },
  },
  server: { proxy: { '/api': 'http://127.0.0.1:8080' } },
})
