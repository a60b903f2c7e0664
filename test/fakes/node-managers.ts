/**
 * Fakes of the node agent's managers for unit tests and for integration tests that do not
 * exercise networking, volumes or log files. They record calls and keep state in memory
 * (logs: plain files in a directory the test owns).
 */
import path from 'node:path';
import type { Pod } from '../../src/model/types.js';
import type { SpecMount } from '../../src/node/containerd/spec.js';
import type { ContainerLogs, NetworkManager, PodNetwork, PodReferences, VolumeManager } from '../../src/node/types.js';
import { rm } from 'node:fs/promises';

/**
 * A NetworkManager that creates nothing: pods get `netnsPath: ''` (so with a real containerd
 * each container gets its own empty namespace) and an address from 10.255.0.0/24.
 */
export class FakeNetworkManager implements NetworkManager {
  readonly nets = new Map<string, PodNetwork>();
  readonly calls: string[] = [];
  private next = 2;

  async createNamespace(pod: Pod): Promise<string> {
    this.calls.push(`createNamespace ${pod.metadata.uid!}`);
    return '';
  }
  async setUp(pod: Pod): Promise<PodNetwork> {
    const uid = pod.metadata.uid!;
    this.calls.push(`setUp ${uid}`);
    let n = this.nets.get(uid);
    if (!n) {
      n = { netnsPath: '', ip: `10.255.0.${this.next++}` };
      this.nets.set(uid, n);
    }
    return n;
  }
  async get(uid: string): Promise<PodNetwork | undefined> {
    return this.nets.get(uid);
  }
  async tearDown(uid: string): Promise<void> {
    this.calls.push(`tearDown ${uid}`);
    this.nets.delete(uid);
  }
  async list(): Promise<string[]> {
    return [...this.nets.keys()];
  }
  async cleanupNode(): Promise<void> {
    this.calls.push('cleanupNode');
  }
}

/** A VolumeManager that mounts nothing but checks configMap volumes exist, as the real one does. */
export class FakeVolumeManager implements VolumeManager {
  readonly prepared = new Map<string, number>();
  readonly calls: string[] = [];

  async prepare(pod: Pod, refs: PodReferences): Promise<Map<string, SpecMount[]>> {
    const { GantryError } = await import('../../src/errors.js');
    for (const v of pod.spec.volumes ?? []) {
      if (v.configMap && !v.configMap.optional && !refs.configMaps.has(v.configMap.name)) {
        throw new GantryError('NotFound', `configmap "${v.configMap.name}" not found`, { disposition: 'waiting' });
      }
    }
    const uid = pod.metadata.uid!;
    this.prepared.set(uid, (this.prepared.get(uid) ?? 0) + 1);
    this.calls.push(`prepare ${uid}`);
    return new Map();
  }
  async cleanup(uid: string): Promise<void> {
    this.calls.push(`cleanup ${uid}`);
    this.prepared.delete(uid);
  }
  async list(): Promise<string[]> {
    return [...this.prepared.keys()];
  }
}

/** Container logs as plain files `<dir>/<uid>/<container>/<restartCount>.log`, never rotated. */
export class FakeContainerLogs implements ContainerLogs {
  rotations = 0;
  constructor(readonly dir: string) {}
  pathFor(podUid: string, container: string, restartCount: number): string {
    return path.join(this.dir, podUid, container, `${restartCount}.log`);
  }
  async rotate(): Promise<void> {
    this.rotations++;
  }
  async cleanup(podUid: string): Promise<void> {
    await rm(path.join(this.dir, podUid), { recursive: true, force: true });
  }
}
