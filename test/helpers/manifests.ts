/**
 * Manifest text for the GitOps integration tests' repos: small objects written as a user would
 * write them, so the tests exercise the real loader on real YAML.
 */

/** Options for {@link deploymentYaml}. */
export interface DeploymentYamlOptions {
  /** Written as is: pass a quoted string (`'"many"'`) to make an invalid manifest. */
  replicas: number | string;
  /** The container's command, if any. */
  command?: string[];
}

/** Deployment `web` (selector and pod label `app: web`) with one container `web` running `gantry.local/busybox:1.35`. */
export function deploymentYaml(opts: DeploymentYamlOptions): string {
  const command = opts.command ? `          command: [${opts.command.map((c) => JSON.stringify(c)).join(', ')}]\n` : '';
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: ${opts.replicas}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: gantry.local/busybox:1.35
${command}`;
}

/** Secret `db` with `stringData.password`. */
export function secretYaml(password: string): string {
  return `apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: ${password}
`;
}
