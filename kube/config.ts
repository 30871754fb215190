// The one place a KubeConfig is built, for every component that talks to a cluster: a
// kubeconfig file when given (flag or $KUBECONFIG), the Pod's service account when asked to run
// in-cluster, else the library's default search ($KUBECONFIG, ~/.kube/config, in-cluster).
import { HttpMethod, KubeConfig, RequestContext } from "@kubernetes/client-node";

export type KubeOptions = { kubeconfigPath?: string; inCluster?: boolean };

// Bounds how stale a rotated service-account token (or an exec plugin's token) can get.
const AUTH_REFRESH_MS = 30_000;

/**
 * client-node 2.0.1 builds a new undici Agent for every request it authenticates, so each call
 * would open (and leave idle) its own TLS connection. This KubeConfig resolves the credentials
 * and the TLS dispatcher once, reuses the dispatcher for every request and watch (one
 * connection pool per process), and refreshes only the auth headers periodically.
 */
class PooledKubeConfig extends KubeConfig {
  #auth:
    | { headers: Record<string, string>; dispatcher: ReturnType<RequestContext["getDispatcher"]> }
    | undefined;
  #authAt = 0;
  #pending: Promise<void> | undefined;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    if (!this.#auth || Date.now() - this.#authAt > AUTH_REFRESH_MS) {
      this.#pending ??= this.#refresh().finally(() => {
        this.#pending = undefined;
      });
      await this.#pending;
    }
    const auth = this.#auth!;
    for (const [key, value] of Object.entries(auth.headers)) context.setHeaderParam(key, value);
    if (auth.dispatcher) context.setDispatcher(auth.dispatcher);
  }

  async #refresh(): Promise<void> {
    const probe = new RequestContext(this.getCurrentCluster()?.server ?? "http://localhost", HttpMethod.GET);
    await super.applySecurityAuthentication(probe);
    // The first dispatcher stays: TLS material comes from the kubeconfig, which does not change.
    this.#auth = { headers: probe.getHeaders(), dispatcher: this.#auth?.dispatcher ?? probe.getDispatcher() };
    this.#authAt = Date.now();
  }
}

export function loadKubeConfig(opts: KubeOptions = {}): KubeConfig {
  const kc = new PooledKubeConfig();
  if (opts.kubeconfigPath) kc.loadFromFile(opts.kubeconfigPath);
  else if (opts.inCluster) kc.loadFromCluster();
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error("kubeconfig has no current cluster");
  return kc;
}
