/**
 * Manifests of the e2e tests' repo, after the bundled sample app (a web Deployment serving a
 * ConfigMap page, a Service, Jobs and a CronJob) with short probe periods and grace periods so
 * that rollouts and deletions take seconds.
 */
import { E2E_IMAGE } from './e2e.js';

/** The web Deployment: httpd on 8080 behind a readiness probe, rolled out one pod at a time. */
export function webDeployment(opts: { replicas?: number; image?: string; version?: string; readinessDelay?: number; extra?: string } = {}): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: ${opts.replicas ?? 2}
  selector:
    matchLabels:
      app: web
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  template:
    metadata:
      labels:
        app: web
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: httpd
          image: ${opts.image ?? E2E_IMAGE}
          command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
          env:
            - name: VERSION
              value: "${opts.version ?? 'v1'}"
          ports:
            - name: http
              containerPort: 8080
          readinessProbe:
            httpGet:
              path: /
              port: http
            initialDelaySeconds: ${opts.readinessDelay ?? 0}
            periodSeconds: 1
          resources:
            requests:
              cpu: 10m
              memory: 8Mi
          volumeMounts:
            - name: content
              mountPath: /www
              readOnly: true
${opts.extra ?? ''}      volumes:
        - name: content
          configMap:
            name: web-content
`;
}

export const WEB_CONFIGMAP = `apiVersion: v1
kind: ConfigMap
metadata:
  name: web-content
data:
  index.html: |
    <h1>Hello from gantry e2e</h1>
`;

export const WEB_SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
    - name: http
      port: 80
      targetPort: http
`;

/** A small Deployment that only sleeps (the one the prune test deletes). */
export function sleeperDeployment(name: string, replicas = 1, opts: { graceSeconds?: number } = {}): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      terminationGracePeriodSeconds: ${opts.graceSeconds ?? 1}
      containers:
        - name: main
          image: ${E2E_IMAGE}
          command: ["sleep", "3600"]
          resources:
            requests:
              cpu: 1m
              memory: 1Mi
`;
}

/** A Job whose single pod runs `script`. */
export function job(name: string, script: string, opts: { backoffLimit?: number } = {}): string {
  return `apiVersion: batch/v1
kind: Job
metadata:
  name: ${name}
spec:
  backoffLimit: ${opts.backoffLimit ?? 2}
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: ${E2E_IMAGE}
          command: ["sh", "-c", ${JSON.stringify(script)}]
`;
}

/** A CronJob firing every minute. */
export const TICK_CRONJOB = `apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: "* * * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      backoffLimit: 1
      template:
        spec:
          restartPolicy: OnFailure
          terminationGracePeriodSeconds: 1
          containers:
            - name: tick
              image: ${E2E_IMAGE}
              command: ["sh", "-c", "echo tick"]
`;
