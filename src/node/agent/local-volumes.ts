/**
 * The node's half of the local-path provisioner (what Rancher's provisioner does with a helper
 * pod on the node): the directories of the local-path volumes that live on this node,
 * `<storage dir>/<pv-name>`. A volume's directory is made as soon as the volume exists (see
 * volumes/local-path.ts, which also moves an earlier gantry's claim directory into it); when the
 * volume is deleted (reclaim policy Delete) the directory and its data are removed, and only
 * then is the volume's cleanup finalizer released. Retain never comes here: a retained volume
 * is not deleted.
 *
 * Only directories directly inside the storage dir and named like their volume are ever
 * removed: a volume object can never make the agent delete another path.
 */
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { LOCAL_PATH_CLEANUP_FINALIZER, volumePath } from '../../model/storage.js';
import type { PersistentVolume } from '../../model/types.js';
import type { NodeApi } from '../api.js';
import { ensureLocalPathDirectory, localPathDirectory } from '../volumes/local-path.js';

/** Options of {@link LocalPathVolumes}. */
export interface LocalPathVolumesOptions {
  api: NodeApi;
  /** `<data-dir>/storage`: where this node keeps local-path volumes. */
  storageDir: string;
  /** The node dir, where an earlier gantry kept claim directories (`volumes/<ns>/<claim>`). */
  legacyDir?: string;
  logger: Logger;
}

/** Makes and removes this node's local-path directories; see the module comment. */
export class LocalPathVolumes {
  /** One piece of work per volume at a time, in order. */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly o: LocalPathVolumesOptions) {}

  /** The directory a volume of this node must have, or undefined when its path is not one gantry made. */
  directoryOf(pv: PersistentVolume): string | undefined {
    return localPathDirectory(pv, this.o.storageDir);
  }

  /**
   * Lists the node's volumes and brings each directory in line at once, then every minute until
   * `signal` aborts: the watch brings each change, this catches what a failed step left undone.
   */
  async run(signal: AbortSignal, periodMs = 60_000): Promise<void> {
    while (!signal.aborted) {
      await this.resync().catch((err: unknown) => this.o.logger.warn({ err: errorMessage(err) }, 'local-path volumes not listed; retrying'));
      await sleep(periodMs, undefined, { signal }).catch(() => undefined);
    }
  }

  /** Lists the node's volumes and brings each directory in line. */
  async resync(): Promise<void> {
    const volumes = await this.o.api.listLocalVolumes();
    await Promise.all(volumes.map((pv) => this.handle(pv)));
  }

  /** Queues the work a volume's current state asks for; resolves when it is done (errors are logged). */
  handle(pv: PersistentVolume, change: 'ADDED' | 'MODIFIED' | 'DELETED' = 'MODIFIED'): Promise<void> {
    const name = pv.metadata.name;
    const prev = this.chains.get(name) ?? Promise.resolve();
    const next = prev.then(() => this.apply(pv, change)).catch((err: unknown) => {
      this.o.logger.warn({ volume: name, err: errorMessage(err) }, 'local-path volume work failed; retrying at the next resync');
    });
    this.chains.set(name, next);
    void next.finally(() => {
      if (this.chains.get(name) === next) this.chains.delete(name);
    });
    return next;
  }

  private async apply(pv: PersistentVolume, change: 'ADDED' | 'MODIFIED' | 'DELETED'): Promise<void> {
    const dir = this.directoryOf(pv);
    if (!dir) {
      this.o.logger.warn({ volume: pv.metadata.name, path: volumePath(pv) }, 'local-path volume outside this node\'s storage dir: left alone');
      return;
    }
    if (change === 'DELETED') return;
    if (pv.metadata.deletionTimestamp) {
      if (!pv.metadata.finalizers?.includes(LOCAL_PATH_CLEANUP_FINALIZER)) return;
      await rm(dir, { recursive: true, force: true });
      this.o.logger.info({ volume: pv.metadata.name, dir }, 'local-path volume deleted: directory removed');
      await this.o.api.finishVolumeCleanup(pv);
      return;
    }
    await ensureLocalPathDirectory(pv, dir, { storageDir: this.o.storageDir, legacyDir: this.o.legacyDir, logger: this.o.logger });
  }
}
