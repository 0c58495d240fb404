// Package agent is hagate's main loop around HAProxy: it renders Snapshots
// into Bundles and has the apply engine make HAProxy run them, starting and
// supervising HAProxy itself, or driving the master of an HAProxy started
// by someone else (attach mode). Sources (a folder of YAML, the Kubernetes
// API) hand it Snapshots.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/haproxytech/client-native/v6/runtime"
	"github.com/haproxytech/client-native/v6/runtime/options"

	"hagate.io/hagate/controller/metrics"
	"hagate.io/hagate/haproxy"
	"hagate.io/hagate/render"
	"hagate.io/hagate/render/ir"
)

// Options configure an Agent.
type Options struct {
	// StateDir holds the configuration, sockets and the master's PID
	// file (run mode).
	StateDir string
	// ConfigDir is where the configuration is written; default
	// StateDir/config. In attach mode, the folder the other HAProxy reads.
	ConfigDir string
	// MasterSocket, when set, is the master CLI of an HAProxy started by
	// someone else (attach mode); otherwise the Agent starts HAProxy.
	MasterSocket string
	// HAProxyBinary is the haproxy binary; default "haproxy".
	HAProxyBinary string
	// BindAddress is the address every listener binds; empty for all.
	BindAddress string
	// ControllerName selects the GatewayClasses to serve.
	ControllerName string
	// Log receives the agent's structured log.
	Log logr.Logger
	// Metrics, if set, records renders and applies.
	Metrics *metrics.Metrics
	// HAProxyOutput receives HAProxy's own output (its logs); default
	// standard output.
	HAProxyOutput io.Writer
	// Provisioned: this agent serves one Gateway's own data plane, made by
	// hagate controller (see render.Options.Provisioned).
	Provisioned bool
	// Threads and Maxconn tune HAProxy (nbthread, maxconn); 0 leaves
	// HAProxy's defaults.
	Threads, Maxconn int32
	// ReloadTimeout bounds how long a reload waits for HAProxy's new
	// worker before the apply fails (and is retried); zero means 30s.
	ReloadTimeout time.Duration
	// SecurityLevel is the OpenSSL security level of HAProxy's TLS
	// (certificates it would refuse are left out); 0 means render's
	// default (2, as Debian's OpenSSL).
	SecurityLevel int
	// ExpiryWarning: see render.Options.
	ExpiryWarning time.Duration
	// AccessLogFormat is the format of the access log lines (empty:
	// HAProxy's httplog and tcplog).
	AccessLogFormat ir.AccessLogFormat
	// HAProxyMetricsAddress, when set, is where HAProxy's Prometheus
	// exporter answers /metrics (templates.Options.MetricsAddress).
	HAProxyMetricsAddress string
	// AccessLog is where HAProxy writes its access log (empty: standard
	// output); WatchDroppedLogs counts the lines it drops.
	AccessLog ir.AccessLog
	// TicketKeys is the TLS session-ticket keys file every bind that
	// terminates TLS uses, so that sessions resume across reloads and on
	// every replica sharing the file: one base64 key (48 or 80 bytes) a
	// line, oldest first, at least 3. Created with new keys (0600) when
	// it does not exist. Empty: no session tickets (no-tls-tickets).
	TicketKeys string
	// TicketRotation rotates the keys (one new key at the end, the oldest
	// dropped, the file rewritten) once the file is that old; 0 never.
	// WatchTicketKeys does it, and applies the keys another replica
	// wrote.
	TicketRotation time.Duration
}

// Agent renders and applies.
type Agent struct {
	o      Options
	engine *haproxy.Engine
	proc   *haproxy.Process
	master *haproxy.MasterCLI
	cache  render.Cache

	// mu is held by a render or apply: it guards what they share (what
	// HAProxy refused, the ports found busy).
	mu      sync.Mutex
	refused refusals
	tickets tickets
	ports   *ports

	// st guards what readiness and metrics read while an apply runs: they
	// never wait for one.
	st       sync.Mutex
	started  bool
	applyErr error
}

// New prepares an Agent; Start runs HAProxy.
func New(o Options) (*Agent, error) {
	if o.StateDir == "" {
		return nil, fmt.Errorf("a state folder is required")
	}
	abs, err := filepath.Abs(o.StateDir)
	if err != nil {
		return nil, err
	}
	o.StateDir = abs
	if o.ConfigDir == "" {
		o.ConfigDir = filepath.Join(o.StateDir, "config")
	}
	if o.ConfigDir, err = filepath.Abs(o.ConfigDir); err != nil {
		return nil, err
	}
	if o.HAProxyBinary == "" {
		o.HAProxyBinary = "haproxy"
	}
	if err := ownFolder("state folder", o.StateDir); err != nil {
		return nil, err
	}
	// In attach mode ConfigDir may be a folder shared with the other
	// HAProxy: its mode is not ours to change. Inside StateDir it is ours.
	if rel, err := filepath.Rel(o.StateDir, o.ConfigDir); err == nil && filepath.IsLocal(rel) {
		if err := ownFolder("configuration folder", o.ConfigDir); err != nil {
			return nil, err
		}
	}
	return &Agent{o: o}, nil
}

// ownFolder makes dir a folder only this user can use: it creates it
// (and missing parents) 0700, or takes an existing one, refusing it when
// it is not a folder (a symbolic link included) or belongs to another
// user, who could swap master.sock or the configuration in it, and taking
// group and other access away. what names the folder in errors.
func ownFolder(what, dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s %s is a symbolic link: give the folder itself", what, dir)
	case !fi.IsDir():
		return fmt.Errorf("%s %s exists and is not a folder: give a folder, or a path that does not exist yet", what, dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		owner := fmt.Sprintf("uid %d", st.Uid)
		if u, err := user.LookupId(strconv.FormatUint(uint64(st.Uid), 10)); err == nil {
			owner = fmt.Sprintf("%s (uid %d)", u.Username, st.Uid)
		}
		return fmt.Errorf("%s %s is owned by %s, not by this user (uid %d), and its owner could replace the sockets and configuration in it: give a folder of this user's own or a path that does not exist yet, or make this user its owner", what, dir, owner, os.Geteuid())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// ConfigDir is the folder HAProxy reads.
func (a *Agent) ConfigDir() string { return a.o.ConfigDir }

// MasterSocket is the master CLI socket.
func (a *Agent) MasterSocket() string {
	if a.o.MasterSocket != "" {
		return a.o.MasterSocket
	}
	return filepath.Join(a.o.StateDir, "master.sock")
}

// Process is the supervised HAProxy (nil in attach mode).
func (a *Agent) Process() *haproxy.Process {
	a.st.Lock()
	defer a.st.Unlock()
	return a.proc
}

// Wait returns when the supervised HAProxy has stopped (after ctx is
// done); at once in attach mode.
func (a *Agent) Wait() {
	if p := a.Process(); p != nil {
		p.Wait()
	}
}

// reloader reloads through the supervised process's master CLI (which
// knows whether the master is alive and what it said), or the attached
// master's.
type reloader struct{ a *Agent }

func (r reloader) Reload(ctx context.Context) (haproxy.ReloadResult, error) {
	if p := r.a.Process(); p != nil {
		return p.CLI().Reload(ctx)
	}
	return r.a.master.Reload(ctx)
}

// runtime is the Runtime API client on the stats socket of the
// configuration (haproxy.sock in the configuration folder), dialled per
// command so that it follows reloads.
func (a *Agent) runtime() haproxy.RuntimeAPI {
	return &lazyRuntime{socket: filepath.Join(a.o.ConfigDir, "haproxy.sock")}
}

func (a *Agent) observer() haproxy.Observer {
	if a.o.Metrics == nil {
		return nil
	}
	return a.o.Metrics
}

// lazyRuntime creates the client-native client on first use (HAProxy may
// not run yet when the engine is made).
type lazyRuntime struct {
	socket string
	c      runtime.Runtime
}

func (l *lazyRuntime) get() (runtime.Runtime, error) {
	if l.c != nil {
		return l.c, nil
	}
	c, err := runtime.New(context.Background(), options.Socket(l.socket))
	if err != nil {
		return nil, fmt.Errorf("runtime API %s: %w", l.socket, err)
	}
	l.c = c
	return c, nil
}
