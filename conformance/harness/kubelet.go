package harness

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The kubelet's log endpoint: the API server answers pods/log (kubectl
// logs, the suite's DumpEchoLogs, which the RequestMirror tests read the
// mirrors' echo-basic logs with) by asking the Pod's node's kubelet. Node
// keeps each echo-basic Pod's output with a timestamp per line, as a
// container runtime does, and serves it on 127.0.0.1 with the certificate
// the API server trusts for kubelets (kubetest's KubeletServing); the Node
// object NodeName names that address and port.

// stampWriter writes each line written to it to w, prefixed with the time
// it was written (RFC 3339, nanoseconds) and a space.
type stampWriter struct {
	mu      sync.Mutex
	w       io.Writer
	partial []byte
	now     func() time.Time
}

func newStampWriter(w io.Writer) *stampWriter { return &stampWriter{w: w, now: time.Now} }

func (s *stampWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	var out bytes.Buffer
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		out.WriteString(s.now().UTC().Format(time.RFC3339Nano))
		out.WriteByte(' ')
		out.Write(s.partial[:i+1])
		s.partial = s.partial[i+1:]
	}
	if out.Len() > 0 {
		if _, err := s.w.Write(out.Bytes()); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// logOptions are the query parameters of a kubelet's containerLogs the
// API server passes on.
type logOptions struct {
	since      time.Time
	tail       int // -1: all
	limit      int // 0: no limit
	timestamps bool
}

func parseLogOptions(q map[string][]string) (logOptions, error) {
	o := logOptions{tail: -1}
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if v := get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return o, fmt.Errorf("sinceTime %q: %w", v, err)
		}
		o.since = t
	}
	if v := get("sinceSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return o, fmt.Errorf("sinceSeconds %q: %w", v, err)
		}
		o.since = time.Now().Add(-time.Duration(n) * time.Second)
	}
	if v := get("tailLines"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return o, fmt.Errorf("tailLines %q", v)
		}
		o.tail = n
	}
	if v := get("limitBytes"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return o, fmt.Errorf("limitBytes %q", v)
		}
		o.limit = n
	}
	o.timestamps = get("timestamps") == "true"
	return o, nil
}

// filterLog writes the lines of a stamped log (stampWriter's) that o
// selects, with or without their timestamps.
func filterLog(w io.Writer, log io.Reader, o logOptions) error {
	var lines []string
	sc := bufio.NewScanner(log)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		stamp, text, ok := strings.Cut(sc.Text(), " ")
		t, err := time.Parse(time.RFC3339Nano, stamp)
		if !ok || err != nil {
			continue
		}
		if !o.since.IsZero() && t.Before(o.since) {
			continue
		}
		if o.timestamps {
			text = stamp + " " + text
		}
		lines = append(lines, text+"\n")
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if o.tail >= 0 && len(lines) > o.tail {
		lines = lines[len(lines)-o.tail:]
	}
	written := 0
	for _, l := range lines {
		if o.limit > 0 && written+len(l) > o.limit {
			l = l[:o.limit-written]
		}
		n, err := io.WriteString(w, l)
		written += n
		if err != nil || o.limit > 0 && written >= o.limit {
			return err
		}
	}
	return nil
}

// podLog is the log file of the running Pod namespace/name ("" when Node
// runs no such Pod, or runs it without a log of its own).
func (n *Node) podLog(namespace, name string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, pr := range n.pods {
		if pr.key.Namespace == namespace && pr.key.Name == name && pr.cmd != nil {
			return pr.log
		}
	}
	return ""
}

// kubeletHandler serves GET /containerLogs/<namespace>/<pod>/<container>
// (follow is not supported: the log so far is returned).
func (n *Node) kubeletHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		o, err := parseLogOptions(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		path := n.podLog(r.PathValue("namespace"), r.PathValue("pod"))
		if path == "" {
			http.Error(w, "no such container running here", http.StatusNotFound)
			return
		}
		f, err := os.Open(path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "text/plain")
		_ = filterLog(w, f, o)
	})
	return mux
}

// startKubelet serves the kubelet endpoint on a free port of 127.0.0.1
// until ctx ends, and writes the Node object that leads the API server
// there.
func (n *Node) startKubelet(ctx context.Context) error {
	cert, err := tls.LoadX509KeyPair(n.KubeletCert, n.KubeletKey)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: n.kubeletHandler(), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	go func() { <-ctx.Done(); _ = srv.Close() }()

	port := int32(l.Addr().(*net.TCPAddr).Port)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: NodeName}}
	if err := n.C.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := n.C.Get(ctx, types.NamespacedName{Name: NodeName}, node); err != nil {
		return err
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = port
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "hagate's conformance harness stands in for the kubelet", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if err := n.C.Status().Update(ctx, node); err != nil {
		return errors.Join(errors.New("node status"), err)
	}
	return nil
}
