//go:build tools

// Package tools pins the Kubernetes API server that hagate's tests run
// against: `go build -o .local/bin/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver`
// from this folder (hack/cluster.sh does it).
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
