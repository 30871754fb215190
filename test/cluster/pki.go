package main

// Certificates, keys, tokens and kubeconfig files for the test control plane.
//
// Everything is generated once per data directory and reused on later starts:
// etcd keeps its data between `cluster.sh down` and `up`, and service-account
// tokens stored in it must still verify against the same signing key.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// pki holds the paths of the generated files plus what the kubeconfigs need.
type pki struct {
	caCert      string // CA certificate (PEM), trusted by clients
	servingCert string // apiserver serving certificate, signed by the CA
	servingKey  string
	saKey       string // service-account token signing key (RSA)
	tokenFile   string // static tokens for --token-auth-file
	// Client certificate the apiserver presents to kubelets (logs, exec,
	// port-forward); its subject is in system:masters.
	kubeletClientCert string
	kubeletClientKey  string

	caPEM      []byte
	adminToken string
	kcmToken   string
	// Identities of the node's agents (see nodeIdentities), by file name.
	nodeTokens map[string]string
}

// nodeIdentities are the users the test node's kubelet and kube-proxy
// authenticate as: the names and groups kubeadm gives them, so the Node
// authorizer, NodeRestriction and the bootstrap RBAC roles treat them as on
// any cluster. Their kubeconfigs are written beside the admin one.
var nodeIdentities = []struct{ file, user, groups string }{
	{"node.token", "system:node:" + nodeName, "system:nodes"},
	{"kube-proxy.token", "system:kube-proxy", "system:node-proxier"},
}

// nodeName is the name of the one test node (scripts/node.sh).
const nodeName = "loraplex-node"

// ensurePKI creates dir/{ca.crt,ca.key,apiserver.crt,apiserver.key,sa.key,tokens.csv}
// unless ca.crt already exists, and returns their paths.
func ensurePKI(dir string) (*pki, error) {
	p := &pki{
		caCert:      filepath.Join(dir, "ca.crt"),
		servingCert: filepath.Join(dir, "apiserver.crt"),
		servingKey:  filepath.Join(dir, "apiserver.key"),
		saKey:       filepath.Join(dir, "sa.key"),
		tokenFile:   filepath.Join(dir, "tokens.csv"),

		kubeletClientCert: filepath.Join(dir, "kubelet-client.crt"),
		kubeletClientKey:  filepath.Join(dir, "kubelet-client.key"),
		nodeTokens:        map[string]string{},
	}
	adminTokenFile := filepath.Join(dir, "admin.token")
	kcmTokenFile := filepath.Join(dir, "controller-manager.token")

	if _, err := os.Stat(p.tokenFile); errors.Is(err, os.ErrNotExist) {
		if err := generatePKI(dir, p, adminTokenFile, kcmTokenFile); err != nil {
			return nil, fmt.Errorf("generate certificates in %s: %w", dir, err)
		}
	} else if err != nil {
		return nil, err
	}

	var err error
	if p.caPEM, err = os.ReadFile(p.caCert); err != nil {
		return nil, err
	}
	admin, err := os.ReadFile(adminTokenFile)
	if err != nil {
		return nil, err
	}
	kcm, err := os.ReadFile(kcmTokenFile)
	if err != nil {
		return nil, err
	}
	p.adminToken, p.kcmToken = string(admin), string(kcm)
	for _, id := range nodeIdentities {
		t, err := os.ReadFile(filepath.Join(dir, id.file))
		if err != nil {
			return nil, fmt.Errorf("%w (a data directory from an older loraplex-cluster: remove it)", err)
		}
		p.nodeTokens[id.file] = string(t)
	}
	return p, nil
}

func generatePKI(dir string, p *pki, adminTokenFile, kcmTokenFile string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	now := time.Now()

	// Certificate authority (ECDSA P-256: fast to generate, accepted everywhere).
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "loraplex-test-ca"},
		NotBefore:             now.Add(-time.Hour), // tolerate small clock skew
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}

	// Serving certificate. Besides loopback, it names the in-cluster service
	// (10.0.0.1 is the first address of --service-cluster-ip-range) so the
	// same certificate would also verify for in-cluster style clients.
	servingKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	servingTemplate := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
	}
	servingDER, err := x509.CreateCertificate(rand.Reader, servingTemplate, caCert, &servingKey.PublicKey, caKey)
	if err != nil {
		return err
	}

	// Service-account signing key. RSA because RS256 is what every token
	// consumer (and OIDC discovery client) is guaranteed to accept.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}

	adminToken, kcmToken := randomToken(), randomToken()
	// Format: token,user,uid,"group1,group2". Both identities are cluster
	// admins; the controller manager gets its own name so its requests are
	// recognisable in logs.
	tokens := fmt.Sprintf("%s,admin,admin,\"system:masters\"\n%s,system:kube-controller-manager,kube-controller-manager,\"system:masters\"\n",
		adminToken, kcmToken)

	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	clientDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, caCert, &clientKey.PublicKey, caKey)
	if err != nil {
		return err
	}

	var nodeFiles []struct {
		path string
		data []byte
	}
	for _, id := range nodeIdentities {
		t := randomToken()
		tokens += fmt.Sprintf("%s,%s,%s,\"%s\"\n", t, id.user, id.user, id.groups)
		nodeFiles = append(nodeFiles, struct {
			path string
			data []byte
		}{filepath.Join(dir, id.file), []byte(t)})
	}

	files := append(nodeFiles, []struct {
		path string
		data []byte
	}{
		{filepath.Join(dir, "ca.key"), pemKey(caKey)},
		{p.servingCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: servingDER})},
		{p.servingKey, pemKey(servingKey)},
		{p.saKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)})},
		{adminTokenFile, []byte(adminToken)},
		{kcmTokenFile, []byte(kcmToken)},
		{p.kubeletClientCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: clientDER})},
		{p.kubeletClientKey, pemKey(clientKey)},
		{p.caCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})},
		// Written last: its presence marks the directory as complete.
		{p.tokenFile, []byte(tokens)},
	}...)
	for _, f := range files {
		if err := writeFileAtomic(f.path, f.data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func pemKey(key *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err) // cannot fail for a freshly generated P-256 key
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n
}

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// writeKubeconfig writes a kubeconfig for server that trusts caPEM and
// authenticates with a bearer token.
func writeKubeconfig(path, server string, caPEM []byte, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["loraplex-test"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["loraplex-test"] = &clientcmdapi.Context{Cluster: "loraplex-test", AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = "loraplex-test"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}

// writeFileAtomic writes via a temporary file and rename, so a reader (or a
// crash) never sees a half-written file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
