// Command loraplex-cluster runs a control-plane-only Kubernetes cluster in a
// single process, for tests: embedded etcd, kube-apiserver and
// kube-controller-manager and kube-scheduler, all listening on 127.0.0.1 only.
//
// It plays the role of controller-runtime's envtest, but with real
// controllers (namespace finalization, garbage collection, quota usage,
// Deployment -> ReplicaSet -> Pod, service accounts, endpoint slices, jobs),
// so tests see the same behaviour as on a real cluster. The scheduler binds
// Pods to a node once one registers: scripts/node.sh runs a kubelet (and
// kube-proxy) as the node "loraplex-node" with the credentials written here
// (node.kubeconfig, kube-proxy.kubeconfig in --data-dir). Without a node,
// Pods stay Pending.
//
// Once the apiserver reports /readyz and the controller manager has done its
// first work, it prints exactly one line to stdout:
//
//	READY <kubeconfig path>
//
// Everything else (component logs) goes to stderr. SIGTERM or SIGINT (and,
// with --exit-on-stdin-eof, stdin closing) stops the components in reverse
// order and exits 0.
//
// Data, certificates and tokens live in --data-dir and are reused on the next
// start with the same directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/embed"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	apiserveroptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	kcmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	kcmoptions "k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
)

// controllers are the kube-controller-manager loops we run. Node, volume,
// certificate and cloud controllers are left out: there are no nodes.
var controllers = []string{
	"namespace-controller",         // finalizes deleted namespaces
	"garbage-collector-controller", // deletes objects whose owners are gone
	"resourcequota-controller",     // fills in ResourceQuota status.used
	"deployment-controller",
	"replicaset-controller",
	"replicationcontroller-controller",
	"statefulset-controller",
	"job-controller",
	"cronjob-controller",
	"ttl-after-finished-controller",
	"disruption-controller",                    // PodDisruptionBudget status
	"serviceaccount-controller",                // "default" ServiceAccount in every namespace
	"serviceaccount-token-controller",          // legacy token Secrets on request
	"root-ca-certificate-publisher-controller", // kube-root-ca.crt ConfigMap in every namespace
	"clusterrole-aggregation-controller",       // fills admin/edit/view from aggregated roles
	"endpoints-controller",
	"endpointslice-controller",
	"endpointslice-mirroring-controller",
	"service-cidr-controller",
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "loraplex-cluster: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		dataDir      = flag.String("data-dir", "", "directory for etcd data, certificates and tokens (required)")
		kubeconfig   = flag.String("kubeconfig", "", "where to write the admin kubeconfig (default <data-dir>/kubeconfig)")
		port         = flag.Int("port", 56443, "kube-apiserver secure port on 127.0.0.1")
		etcdPort     = flag.Int("etcd-port", 52379, "etcd client port on 127.0.0.1")
		etcdPeerPort = flag.Int("etcd-peer-port", 52380, "etcd peer port on 127.0.0.1 (single member, but etcd always listens)")
		fsync        = flag.Bool("etcd-fsync", false, "let etcd fsync its WAL (off: test data is disposable and fsync dominates on slow disks)")
		verbosity    = flag.Int("v", 0, "log verbosity of the Kubernetes components")
		readyTimeout = flag.Duration("ready-timeout", 3*time.Minute, "give up if not ready within this time")
		stdinEOF     = flag.Bool("exit-on-stdin-eof", false, "shut down when stdin closes (lets a parent that dies unexpectedly take the cluster with it)")
	)
	flag.Parse()
	if *dataDir == "" {
		return errors.New("--data-dir is required")
	}
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", flag.Args())
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	if *kubeconfig == "" {
		*kubeconfig = filepath.Join(dir, "kubeconfig")
	}
	if *kubeconfig, err = filepath.Abs(*kubeconfig); err != nil {
		return err
	}

	// Fail early with a clear message instead of deep inside a component.
	for _, p := range []struct {
		name string
		port int
	}{{"apiserver (--port)", *port}, {"etcd client (--etcd-port)", *etcdPort}, {"etcd peer (--etcd-peer-port)", *etcdPeerPort}} {
		if err := checkPortFree(p.port); err != nil {
			return fmt.Errorf("%s port %d on 127.0.0.1 is not available: %v", p.name, p.port, err)
		}
	}

	// Logging is process-global (klog); set it once here rather than letting
	// each component apply its own logging options.
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	_ = klogFlags.Set("v", strconv.Itoa(*verbosity))

	certs, err := ensurePKI(filepath.Join(dir, "pki"))
	if err != nil {
		return err
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", *port)
	kcmKubeconfig := filepath.Join(dir, "controller-manager.kubeconfig")
	if err := writeKubeconfig(kcmKubeconfig, server, certs.caPEM, "system:kube-controller-manager", certs.kcmToken); err != nil {
		return err
	}
	for _, id := range nodeIdentities {
		path := filepath.Join(dir, strings.TrimSuffix(id.file, ".token")+".kubeconfig")
		if err := writeKubeconfig(path, server, certs.caPEM, id.user, certs.nodeTokens[id.file]); err != nil {
			return err
		}
	}

	// SIGTERM/SIGINT (or stdin EOF) end the run. Each component has its own
	// context so they stop in order: controllers, apiserver, then etcd.
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stopSignals()
	if *stdinEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			fmt.Fprintln(os.Stderr, "loraplex-cluster: stdin closed")
			stopSignals()
		}()
	}

	etcd, err := startEtcd(filepath.Join(dir, "etcd"), *etcdPort, *etcdPeerPort, !*fsync)
	if err != nil {
		return err
	}
	closeEtcd := sync.OnceFunc(etcd.Close) // a second Close panics
	defer closeEtcd()

	// The controller manager's options are built before the apiserver's:
	// building them changes a feature-gate default, which is only allowed
	// before the (process-wide) gates are bound to a flag set.
	startKCM, err := prepareControllerManager(kcmKubeconfig, certs)
	if err != nil {
		return err
	}
	startScheduler, err := prepareScheduler(kcmKubeconfig)
	if err != nil {
		return err
	}

	apiCtx, stopAPI := context.WithCancel(context.Background())
	defer stopAPI()
	apiDone := make(chan error, 1)
	if err := startAPIServer(apiCtx, apiDone, *port, *etcdPort, dir, certs); err != nil {
		return err
	}

	if err := writeKubeconfig(*kubeconfig, server, certs.caPEM, "admin", certs.adminToken); err != nil {
		return err
	}

	kcmCtx, stopKCM := context.WithCancel(context.Background())
	defer stopKCM()
	kcmDone := make(chan error, 1)
	schedDone := make(chan error, 1) // the scheduler shares the controller manager's context
	readyCtx, cancelReady := context.WithTimeout(sigCtx, *readyTimeout)
	readyErr := make(chan error, 1)
	go func() {
		readyErr <- func() error {
			client, err := adminClient(*kubeconfig)
			if err != nil {
				return err
			}
			if err := waitAPIServer(readyCtx, client); err != nil {
				return err
			}
			// Started only now: kube-controller-manager exits (and would take
			// this whole process with it) when the apiserver is not healthy
			// within 10s of its start, which a cold start on 2 cores can miss.
			if err := startKCM(kcmCtx, kcmDone); err != nil {
				return err
			}
			if err := startScheduler(kcmCtx, schedDone); err != nil {
				return err
			}
			return waitDefaultServiceAccount(readyCtx, client)
		}()
	}()

	// Wait for readiness, then for a signal (or stdin EOF); a component
	// stopping on its own at any point is a failure.
	var runErr error
	apiStopped := false
	for runErr == nil && sigCtx.Err() == nil {
		select {
		case err := <-readyErr:
			readyErr = nil // receives once; a nil channel blocks forever
			if err == nil {
				fmt.Printf("READY %s\n", *kubeconfig)
			} else if sigCtx.Err() == nil {
				runErr = fmt.Errorf("control plane not ready: %w", err)
			}
		case <-sigCtx.Done():
		case err := <-apiDone:
			apiStopped = true
			runErr = fmt.Errorf("kube-apiserver stopped: %v", err)
		case err := <-kcmDone:
			runErr = fmt.Errorf("kube-controller-manager stopped: %v", err)
		case err := <-schedDone:
			runErr = fmt.Errorf("kube-scheduler stopped: %v", err)
		case err := <-etcd.Err():
			runErr = fmt.Errorf("etcd failed: %v", err)
		}
	}
	cancelReady()

	// Orderly shutdown. A second signal skips it.
	stopSignals()
	go func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
		<-c
		fmt.Fprintln(os.Stderr, "loraplex-cluster: second signal, exiting immediately")
		os.Exit(1)
	}()
	fmt.Fprintln(os.Stderr, "loraplex-cluster: shutting down")
	stopKCM()
	stopAPI()
	if !apiStopped {
		select {
		case <-apiDone:
		case <-time.After(30 * time.Second):
			fmt.Fprintln(os.Stderr, "loraplex-cluster: kube-apiserver did not stop within 30s")
		}
	}
	closeEtcd()
	return runErr
}

// checkPortFree reports whether 127.0.0.1:port can be bound right now.
func checkPortFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}

// startEtcd starts a single-member etcd on loopback and waits until it
// serves requests.
func startEtcd(dir string, clientPort, peerPort int, noFsync bool) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "loraplex-test"
	cfg.Dir = dir
	clientURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(clientPort))}
	peerURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(peerPort))}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{clientURL}, []url.URL{clientURL}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peerURL}, []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{"stderr"}
	cfg.UnsafeNoFsync = noFsync
	// Only the etcd command line fills this in; left at zero, every request
	// would be logged as slow.
	cfg.WarningUnaryRequestDuration = embed.DefaultWarningUnaryRequestDuration

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd failed to start: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("etcd not ready after 60s")
	}
}

// startAPIServer configures kube-apiserver through its own flag set (so the
// flags below mean exactly what the kube-apiserver documentation says) and
// runs it until ctx is cancelled; the result of Run is sent to done.
func startAPIServer(ctx context.Context, done chan<- error, port, etcdPort int, dir string, certs *pki) error {
	s := apiserveroptions.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	args := []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(etcdPort),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(dir, "pki"),
		"--tls-cert-file=" + certs.servingCert,
		"--tls-private-key-file=" + certs.servingKey,
		"--client-ca-file=" + certs.caCert,
		"--token-auth-file=" + certs.tokenFile,
		// Node,RBAC with NodeRestriction is what kubeadm clusters use, so RBAC
		// mistakes in our charts fail here as they would in production.
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + certs.saKey,
		"--service-account-signing-key-file=" + certs.saKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		// kubectl logs/exec: the apiserver calls the node's kubelet at its
		// InternalIP (the node's bridge address) with a client certificate.
		"--kubelet-preferred-address-types=InternalIP",
		"--kubelet-client-certificate=" + certs.kubeletClientCert,
		"--kubelet-client-key=" + certs.kubeletClientKey,
		// The "kubernetes" Service cannot point at 127.0.0.1 (Endpoints reject
		// loopback); scripts/node.sh points it at the node's bridge address,
		// where it forwards to this apiserver, when Pods need it.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("kube-apiserver flags: %w", err)
	}
	// Feature gates and emulated versions live in a process-wide registry
	// shared with the controller manager; it is set once, here.
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return fmt.Errorf("kube-apiserver feature gates: %w", err)
	}
	completed, err := s.Complete(ctx)
	if err != nil {
		return fmt.Errorf("kube-apiserver options: %w", err)
	}
	if errs := completed.Validate(); len(errs) > 0 {
		return fmt.Errorf("kube-apiserver options: %v", errs)
	}
	go func() { done <- apiserverapp.Run(ctx, completed) }()
	return nil
}

// prepareControllerManager parses the kube-controller-manager flags for the
// controllers listed above; the returned function runs it until ctx is
// cancelled.
func prepareControllerManager(kubeconfig string, certs *pki) (func(ctx context.Context, done chan<- error) error, error) {
	s, err := kcmoptions.NewKubeControllerManagerOptions()
	if err != nil {
		return nil, err
	}
	all, disabled, aliases := kcmapp.KnownControllers(), kcmapp.ControllersDisabledByDefault(), kcmapp.ControllerAliases()
	fs := pflag.NewFlagSet("kube-controller-manager", pflag.ContinueOnError)
	for _, f := range s.Flags(all, disabled, aliases).FlagSets {
		fs.AddFlagSet(f)
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + strings.Join(controllers, ","),
		// One instance only: leader election would just add lease writes
		// and a start-up delay.
		"--leader-elect=false",
		// No HTTPS endpoint: nothing scrapes it, and it would need a third
		// port plus delegated authentication.
		"--secure-port=0",
		"--service-account-private-key-file=" + certs.saKey,
		"--root-ca-file=" + certs.caCert,
		// Client-side rate limits sized for tests that create many objects
		// at once (the defaults, 20 QPS, make namespace cleanup crawl).
		"--kube-api-qps=200",
		"--kube-api-burst=400",
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("kube-controller-manager flags: %w", err)
	}
	return func(ctx context.Context, done chan<- error) error {
		c, err := s.Config(ctx, all, disabled, aliases)
		if err != nil {
			return fmt.Errorf("kube-controller-manager options: %w", err)
		}
		go func() { done <- kcmapp.Run(ctx, c.Complete()) }()
		return nil
	}, nil
}

func adminClient(kubeconfig string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// waitAPIServer polls until kube-apiserver answers /readyz with "ok".
func waitAPIServer(ctx context.Context, client kubernetes.Interface) error {
	return poll(ctx, func() error {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) != "ok" {
			err = fmt.Errorf("/readyz answered %q", body)
		}
		return err
	})
}

// waitDefaultServiceAccount polls until the controller manager has created
// the "default" ServiceAccount in the "default" namespace: proof that its
// controllers run, and Pods created right after READY are admitted.
func waitDefaultServiceAccount(ctx context.Context, client kubernetes.Interface) error {
	return poll(ctx, func() error {
		_, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	})
}

// poll calls check every 200ms until it returns nil or ctx ends; then it
// returns the last error seen.
func poll(ctx context.Context, check func() error) error {
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
