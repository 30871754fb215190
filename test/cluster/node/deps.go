//go:build tools

// Package node pins the Go modules of the node binaries that scripts/node.sh
// builds from k8s.io/kubernetes (kubelet, kube-proxy), so `go mod tidy` keeps
// their dependencies in this module's go.sum.
package node

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
)
