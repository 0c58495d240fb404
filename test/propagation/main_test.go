package propagation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"hagate.io/hagate/internal/testutil/kubetest"
)

// etcdBin is where kubetest runs etcd from (Debian's etcd-server); looked
// at here only to skip with a clear message when it is missing.
const etcdBin = "/usr/bin/etcd"

// errNoEtcd is the error kubeCluster skips on when etcd is missing.
var errNoEtcd = errors.New("etcd not installed")

var (
	clusterOnce sync.Once
	cluster     *kubetest.Cluster
	stopCluster func()
	clusterErr  error
)

func TestMain(m *testing.M) {
	// The controller-runtime client logs through this; without a logger
	// it prints a stack trace on first use.
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	if stopCluster != nil {
		stopCluster()
	}
	removeBinary()
	os.Exit(code)
}

// kubeCluster starts the private etcd + kube-apiserver on first use (the
// file mode does not need it) and shares it between the kube-mode
// sub-benchmarks; TestMain stops it. Without the binaries it skips the
// benchmark, unless HAGATE_REQUIRE_CLUSTER says the cluster is mandatory.
func kubeCluster(b *testing.B) *kubetest.Cluster {
	b.Helper()
	clusterOnce.Do(func() {
		if _, err := os.Stat(etcdBin); err != nil {
			clusterErr = fmt.Errorf("%w: %s is missing; run `make deps` (apt-get install etcd-server)", errNoEtcd, etcdBin)
			return
		}
		cluster, stopCluster, clusterErr = kubetest.Start(context.Background(), os.Stderr)
	})
	if clusterErr != nil {
		missing := errors.Is(clusterErr, kubetest.ErrNoKubeAPIServer) || errors.Is(clusterErr, errNoEtcd)
		if missing && !kubetest.Required() {
			b.Skipf("no test API server (%v); %s is not set, so this is a skip, not a failure", clusterErr, kubetest.EnvRequire)
		}
		b.Fatalf("test API server: %v", clusterErr)
	}
	return cluster
}
