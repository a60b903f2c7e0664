import { MemoryStore } from '../fakes/memory-store.js';
import { describeStoreConformance } from '../store/conformance.js';

// The fake used by the controller tests must behave like the real backends.
describeStoreConformance('memory fake', async () => {
  const store = new MemoryStore();
  return { store, cleanup: () => store.close() };
});
