/**
 * Service-account token routes, as the API server has them:
 *
 * - `POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token` (TokenRequest, `kubectl create
 *   token NAME`): a token of the account, bound to a pod when `boundObjectRef` names one, for
 *   `expirationSeconds` (default an hour, at least ten minutes) and the audiences asked (default
 *   the API's). Authorized like any request (`create serviceaccounts/token`).
 * - `GET /.well-known/openid-configuration` and `GET /openid/v1/jwks`: the issuer's discovery
 *   document and public key, so other systems can check gantry's tokens.
 */
import type { FastifyInstance } from 'fastify';
import { MIN_TOKEN_EXPIRATION_SECONDS, SERVICE_ACCOUNT_ISSUER } from '../model/serviceaccount.js';
import type { Pod, ServiceAccount } from '../model/types.js';
import type { Store } from '../store/types.js';
import type { ServiceAccountTokens } from './auth/sa-tokens.js';
import { sendStatus } from './kube.js';
import { acceptKubeProtobuf } from './protobuf.js';
import { podServiceAccount } from '../model/serviceaccount.js';

/** Options of {@link tokenRequestApi}. */
export interface TokenRequestOptions {
  store: Store;
  tokens: ServiceAccountTokens;
}

/** A TokenRequest's spec. */
interface TokenRequestSpec {
  audiences?: string[];
  expirationSeconds?: number;
  boundObjectRef?: { kind?: string; apiVersion?: string; name?: string; uid?: string };
}

/** The token routes, as a fastify plugin. */
export function tokenRequestApi(opts: TokenRequestOptions): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    const { store, tokens } = opts;
    acceptKubeProtobuf(app);
    app.post<{ Params: { namespace: string; name: string }; Body: { spec?: TokenRequestSpec; metadata?: Record<string, unknown> } }>(
      '/api/v1/namespaces/:namespace/serviceaccounts/:name/token',
      async (req, reply) => {
        const { namespace, name } = req.params;
        const spec = req.body?.spec ?? {};
        const invalid = (field: string, why: string) => sendStatus(reply, 422, 'Invalid', `TokenRequest.authentication.k8s.io "${name}" is invalid: spec.${field}: ${why}`);
        const seconds = spec.expirationSeconds ?? 3600;
        if (!Number.isSafeInteger(seconds) || seconds < MIN_TOKEN_EXPIRATION_SECONDS) return invalid('expirationSeconds', `Invalid value: ${seconds}: may not specify a duration less than ${MIN_TOKEN_EXPIRATION_SECONDS} seconds`);
        const sa = await store.get<ServiceAccount>({ kind: 'ServiceAccount', namespace, name });
        if (!sa?.metadata.uid) return sendStatus(reply, 404, 'NotFound', `serviceaccounts "${name}" not found`, { name, kind: 'serviceaccounts' });
        let pod: Pod | undefined;
        const ref = spec.boundObjectRef;
        if (ref) {
          if (ref.kind !== 'Pod') return invalid('boundObjectRef.kind', `Unsupported value: "${ref.kind ?? ''}": supported values: "Pod"`);
          pod = await store.get<Pod>({ kind: 'Pod', namespace, name: ref.name ?? '' });
          if (!pod || (ref.uid && ref.uid !== pod.metadata.uid)) return sendStatus(reply, 404, 'NotFound', `pods "${ref.name ?? ''}" not found`, { name: ref.name ?? '', kind: 'pods' });
          const podAccount = podServiceAccount(pod);
          if (podAccount !== name) return sendStatus(reply, 400, 'BadRequest', `cannot bind token for serviceaccount "${name}" to pod running with different serviceaccount name.`);
        }
        const audiences = spec.audiences?.length ? spec.audiences : tokens.apiAudiences;
        const issued = await tokens.issue({
          namespace,
          serviceAccount: { name, uid: sa.metadata.uid },
          ...(pod ? { pod: { name: pod.metadata.name, uid: pod.metadata.uid! }, ...(pod.spec.nodeName ? { node: { name: pod.spec.nodeName } } : {}) } : {}),
          audiences,
          expirationSeconds: seconds,
        });
        return reply.code(201).send({
          kind: 'TokenRequest',
          apiVersion: 'authentication.k8s.io/v1',
          metadata: { name, namespace, creationTimestamp: null },
          spec: { audiences, expirationSeconds: seconds, boundObjectRef: ref ?? null },
          status: issued,
        });
      },
    );

    app.get('/.well-known/openid-configuration', async () => ({
      issuer: SERVICE_ACCOUNT_ISSUER,
      jwks_uri: `${SERVICE_ACCOUNT_ISSUER}/openid/v1/jwks`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
    }));
    app.get('/openid/v1/jwks', async (_req, reply) => reply.type('application/jwk-set+json').send(await tokens.jwks()));
  };
}
