//go:build tools

// Package kuberouter pins kube-router for scripts/node.sh, which builds its
// upstream command (github.com/cloudnativelabs/kube-router/v2/cmd/kube-router).
package kuberouter

import _ "github.com/cloudnativelabs/kube-router/v2/pkg/cmd"
