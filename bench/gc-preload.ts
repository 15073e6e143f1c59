// Preloaded into the gateway by the burst benchmark (`node --expose-gc --import bench/gc-preload.ts`):
// SIGUSR2 runs a full garbage collection, so the heap figure read next from admin /metrics is what
// live objects (the buffered requests) retain, not garbage that happens not to be collected yet.
const gc = (globalThis as { gc?: () => void }).gc
process.on('SIGUSR2', () => {
  gc?.()
  gc?.()
})
