// Package netns gives tests hosts with addresses of their own: each Host is
// a Linux network namespace joined to the test's namespace by a veth pair,
// addressed from a 198.18.x.0/24 prefix (RFC 2544's benchmarking range).
// The Kubernetes API server refuses loopback addresses in EndpointSlices, so
// end-to-end tests put their backends on such hosts.
//
// A test reaches a host from its own namespace through the veth; servers run
// inside the host either as processes (Start) or in the test process itself
// on sockets created inside the namespace (Listen, Do).
//
// It needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and the `ip` command from
// Debian's iproute2. When either is missing the test fails (it is never
// skipped) and says so.
//
// Names are random ("hagate-<6 hex>", veth "hgv<6 hex>"), and every host is
// removed by t.Cleanup. A /24 prefix belongs to one host at a time, across
// all test processes on the machine: New holds a lock file for it under
// /run/hagate-netns, which the kernel releases when the process dies, and on
// taking the lock removes whatever a crashed run left on that prefix.
package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hagate.io/hagate/internal/testutil/syncbuf"
)

const (
	// nsPrefix starts every namespace name; linkPrefix every veth name in
	// the test's namespace. Both are followed by the same random id.
	nsPrefix   = "hagate-"
	linkPrefix = "hgv"
	// peerName is the veth end inside the namespace.
	peerName = "eth0"

	lockDir     = "/run/hagate-netns"
	netnsRunDir = "/run/netns"

	ipTimeout   = 30 * time.Second
	lockWait    = 5 * time.Minute
	lockPoll    = 100 * time.Millisecond
	stopTimeout = 10 * time.Second
	waitDelay   = 2 * time.Second
)

// Host is a test host: a network namespace joined to this one by a veth
// pair.
type Host struct {
	// Name is the namespace's name ("hagate-<6 hex>"), as `ip netns` knows
	// it.
	Name string
	// Addr is the host's first address, <prefix>.2, inside the namespace.
	Addr string
	// Gateway is <prefix>.1, our end of the veth pair. It is also the
	// namespace's default route, so processes inside can reach this
	// namespace's addresses (not loopback: 127.0.0.1 inside is the
	// namespace's own).
	Gateway string
	// Link is our end of the veth pair ("hgv<6 hex>").
	Link string

	prefix string

	mu   sync.Mutex
	next int // last octet AddAddress hands out next
}

// New creates a network namespace "hagate-<6 hex>" and a veth pair, moves
// one end into the namespace (as eth0), assigns <prefix>.1/24 to our end and
// <prefix>.2/24 inside, brings both up (and lo inside), and registers
// t.Cleanup to delete them and to kill what still runs inside.
//
// prefix is the first three octets, like "198.18.0". Tests that need
// several hosts use distinct prefixes ("198.18.1", "198.18.2", ...), or one
// host with several addresses (AddAddress). A prefix is held by one host at
// a time machine-wide: New waits (up to 5 minutes) while another test or
// test process holds it, and fails at once if the same test already holds
// it. An empty prefix picks a free 198.18.N, counting down from
// 198.18.255 (tests that name prefixes are expected to count up from
// 198.18.0).
func New(t testing.TB, prefix string) *Host {
	t.Helper()
	ipBinary(t)

	lock, prefix, err := acquirePrefix(t, prefix)
	if err != nil {
		t.Fatal(err)
	}

	id, err := randomID()
	if err != nil {
		lock.release()
		t.Fatal(err)
	}
	h := &Host{
		Name:    nsPrefix + id,
		Link:    linkPrefix + id,
		Addr:    prefix + ".2",
		Gateway: prefix + ".1",
		prefix:  prefix,
		next:    3,
	}
	// Registered before anything is created, so that a failure half-way
	// still removes what was made.
	t.Cleanup(func() {
		defer lock.release()
		for _, err := range teardown(h.Name, h.Link) {
			t.Errorf("netns: cleanup of %s: %v", h.Name, err)
		}
	})

	steps := [][]string{
		{"netns", "add", h.Name},
		{"link", "add", h.Link, "type", "veth", "peer", "name", peerName, "netns", h.Name},
		{"addr", "add", h.Gateway + "/24", "dev", h.Link},
		{"link", "set", h.Link, "up"},
		{"-n", h.Name, "link", "set", "lo", "up"},
		{"-n", h.Name, "addr", "add", h.Addr + "/24", "dev", peerName},
		{"-n", h.Name, "link", "set", peerName, "up"},
		{"-n", h.Name, "route", "add", "default", "via", h.Gateway},
	}
	for i, args := range steps {
		if _, err := runIP(args...); err != nil {
			if i == 0 {
				err = fmt.Errorf("%w (creating network namespaces needs root: CAP_SYS_ADMIN and CAP_NET_ADMIN)", err)
			}
			t.Fatalf("netns: %v", err)
		}
	}
	return h
}

// AddAddress assigns the next free address of the host's /24 (<prefix>.3,
// then .4, ... up to .254) inside the namespace and returns it.
func (h *Host) AddAddress(t testing.TB) string {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.next > 254 {
		t.Fatalf("netns: %s: no address left in %s.0/24", h.Name, h.prefix)
	}
	addr := h.prefix + "." + strconv.Itoa(h.next)
	if _, err := runIP("-n", h.Name, "addr", "add", addr+"/24", "dev", peerName); err != nil {
		t.Fatalf("netns: %v", err)
	}
	h.next++
	return addr
}

// Start runs name with args inside the namespace (`ip netns exec <ns> name
// args...`) in a process group of its own, and registers t.Cleanup to kill
// the group (SIGKILL) and reap it. The output (stdout and stderr together)
// goes to t.Log when the command exits with an error before the cleanup, and
// at the cleanup when the test failed.
//
// The command is started; the caller must not call Wait (Start's cleanup
// does), but may read Process.Pid or signal Process.
func (h *Host) Start(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	ip := ipBinary(t)
	cmd := exec.Command(ip, append([]string{"netns", "exec", h.Name, name}, args...)...)
	out := &syncbuf.Buffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Children that keep the output pipes open must not hang Wait.
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		t.Fatalf("netns: %s: start %s: %v", h.Name, name, err)
	}
	// `ip netns exec` switches namespace and execs the command (no fork
	// outside batch mode), so the pid and process group are the command's.
	pid := cmd.Process.Pid
	line := strings.Join(append([]string{name}, args...), " ")

	var stopping atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := cmd.Wait()
		// Logging here is safe: the cleanup below waits for done, so the
		// test has not finished.
		if err != nil && !stopping.Load() {
			t.Logf("netns: %s: %q exited: %v; output:\n%s", h.Name, line, err, out.String())
		}
	}()
	t.Cleanup(func() {
		stopping.Store(true)
		select {
		case <-done:
		default:
			// The whole group: the command may have children.
			if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				t.Errorf("netns: %s: kill %q (pgid %d): %v", h.Name, line, pid, err)
			}
		}
		select {
		case <-done:
		case <-time.After(stopTimeout):
			t.Errorf("netns: %s: %q (pid %d) still running %v after SIGKILL", h.Name, line, pid, stopTimeout)
		}
		if t.Failed() {
			t.Logf("netns: %s: output of %q:\n%s", h.Name, line, out.String())
		}
	})
	return cmd
}

// Listen creates a listener inside the namespace (net.Listen(network, addr)
// run by Do) and registers t.Cleanup to close it. A socket stays in the
// namespace it was created in, so the test can serve on it with net/http,
// crypto/tls or grpc from its own goroutines.
func (h *Host) Listen(t testing.TB, network, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		t.Fatalf("netns: %s: listen %s %s: %v", h.Name, network, addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// Do runs fn on an OS thread switched into the namespace, and returns its
// error. Sockets fn creates (net.Listen, net.ListenPacket, net.Dial) stay in
// the namespace. fn must do its work in the calling goroutine: goroutines it
// starts run in this namespace, not the host's. It must not call
// runtime.UnlockOSThread, nor t.Fatal (return an error instead).
//
// The switch happens on a goroutine of its own, locked to its thread. The
// thread returns to the pool only once it is verifiably back in its
// original namespace; otherwise it stays locked and the runtime ends it with
// the goroutine. A panic in fn is returned as an error.
func (h *Host) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No deferred UnlockOSThread: doLocked unlocks only a thread that
		// is back in its own namespace.
		sent := false
		defer func() {
			if !sent { // fn called runtime.Goexit, as t.Fatal does
				errc <- fmt.Errorf("%s: fn exited its goroutine (t.Fatal or runtime.Goexit in Do)", h.Name)
			}
		}()
		err := h.doLocked(fn)
		sent = true
		errc <- err
	}()
	return <-errc
}

func (h *Host) doLocked(fn func() error) (err error) {
	self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	orig, err := unix.Open(self, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open %s: %w", self, err)
	}
	defer unix.Close(orig)
	nsPath := filepath.Join(netnsRunDir, h.Name)
	target, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open %s: %w", nsPath, err)
	}
	defer unix.Close(target)

	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		// A failed setns leaves the thread where it was.
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", h.Name, err)
	}
	defer func() {
		if serr := unix.Setns(orig, unix.CLONE_NEWNET); serr != nil {
			// Stay locked: the thread ends with this goroutine.
			err = errors.Join(err, fmt.Errorf("setns back from %s: %w (thread discarded)", h.Name, serr))
			return
		}
		if !sameNamespace(orig, self) {
			err = errors.Join(err, fmt.Errorf("thread not back in its namespace after leaving %s (thread discarded)", h.Name))
			return
		}
		runtime.UnlockOSThread()
	}()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in %s: %v", h.Name, p)
		}
	}()
	return fn()
}

// sameNamespace reports whether the namespace file open as fd is the one
// path names now.
func sameNamespace(fd int, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Stat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// teardown deletes a host's veth pair and namespace, killing what still
// runs inside it first. Missing pieces are not errors.
func teardown(name, link string) []error {
	var errs []error
	if linkExists(link) {
		// Deleting one end deletes the pair.
		if _, err := runIP("link", "del", link); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := os.Stat(filepath.Join(netnsRunDir, name)); err != nil {
		return errs
	}
	if out, err := runIP("netns", "pids", name); err == nil {
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if _, err := runIP("netns", "del", name); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func linkExists(link string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", link))
	return err == nil
}

// removeStale deletes what a crashed run left on prefix: veth pairs named
// hgv<id> holding an address of prefix.0/24 in this namespace, and their
// namespaces hagate-<id>. Any other interface holding such an address is an
// error: the prefix is in use by something that is not ours. Called with
// the prefix's lock held, so no live test owns these.
func removeStale(prefix string) error {
	out, err := listAddrs(prefix)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		dev, _, _ := strings.Cut(f[1], "@")
		id, ok := strings.CutPrefix(dev, linkPrefix)
		if !ok || !isID(id) {
			return fmt.Errorf("%s.0/24 is in use on interface %s, which is not a test host's; pick another prefix", prefix, dev)
		}
		if errs := teardown(nsPrefix+id, dev); len(errs) > 0 {
			return fmt.Errorf("removing stale host %s%s: %w", nsPrefix, id, errors.Join(errs...))
		}
	}
	return nil
}

// listAddrs lists, one a line (`ip -o`), the addresses of prefix.0/24 in
// this namespace. A dump that races with other tests' link changes is
// flagged by the kernel ("Dump was interrupted and may be inconsistent." on
// ip's standard error) and taken again.
func listAddrs(prefix string) (string, error) {
	for try := 0; ; try++ {
		out, stderr, err := runIPStderr("-o", "-4", "addr", "show", "to", prefix+".0/24")
		if err == nil && !strings.Contains(stderr, "interrupted") {
			return out, nil
		}
		if try == 20 {
			if err == nil {
				err = fmt.Errorf("ip addr show: %s", strings.TrimSpace(stderr))
			}
			return "", err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// prefixLock is a held lock on a /24 prefix.
type prefixLock struct {
	prefix string
	f      *os.File
}

var (
	heldMu sync.Mutex
	held   = map[string]string{} // prefix -> test name, in this process
)

func (l *prefixLock) release() {
	heldMu.Lock()
	delete(held, l.prefix)
	heldMu.Unlock()
	l.f.Close() // drops the flock
}

// acquirePrefix locks prefix (or, when it is empty, a free 198.18.N)
// and removes stale hosts on it. It returns the prefix locked.
func acquirePrefix(t testing.TB, prefix string) (*prefixLock, string, error) {
	t.Helper()
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return nil, "", fmt.Errorf("netns: %w", err)
	}
	if prefix == "" {
		// From the top, out of the way of the low prefixes tests name.
		for n := 255; n >= 0; n-- {
			p := "198.18." + strconv.Itoa(n)
			l, ok, err := tryLock(t, p)
			if err != nil {
				return nil, "", err
			}
			if ok {
				return l, p, cleanStale(l)
			}
		}
		return nil, "", errors.New("netns: every 198.18.N prefix is in use")
	}
	if !validPrefix(prefix) {
		return nil, "", fmt.Errorf("netns: prefix %q: want three octets of an IPv4 address, like 198.18.0", prefix)
	}
	deadline := time.Now().Add(lockWait)
	logged := false
	for {
		heldMu.Lock()
		owner, busy := held[prefix]
		heldMu.Unlock()
		if busy && owner == t.Name() {
			return nil, "", fmt.Errorf("netns: %s already holds a host on %s; use AddAddress or another prefix", owner, prefix)
		}
		l, ok, err := tryLock(t, prefix)
		if err != nil {
			return nil, "", err
		}
		if ok {
			return l, prefix, cleanStale(l)
		}
		if time.Now().After(deadline) {
			return nil, "", fmt.Errorf("netns: prefix %s still in use by another test after %v", prefix, lockWait)
		}
		if !logged {
			t.Logf("netns: waiting for prefix %s, in use by another test", prefix)
			logged = true
		}
		time.Sleep(lockPoll)
	}
}

func cleanStale(l *prefixLock) error {
	if err := removeStale(l.prefix); err != nil {
		l.release()
		return fmt.Errorf("netns: %w", err)
	}
	return nil
}

// tryLock takes the flock of prefix without waiting. A flock belongs to an
// open file description, so it also excludes other tests of this process.
func tryLock(t testing.TB, prefix string) (*prefixLock, bool, error) {
	path := filepath.Join(lockDir, prefix+".lock")
	// os.OpenFile sets O_CLOEXEC: commands started later do not inherit
	// (and keep) the lock.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("netns: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("netns: flock %s: %w", path, err)
	}
	heldMu.Lock()
	held[prefix] = t.Name()
	heldMu.Unlock()
	return &prefixLock{prefix: prefix, f: f}, true, nil
}

func validPrefix(p string) bool {
	if strings.Count(p, ".") != 2 {
		return false
	}
	ip := net.ParseIP(p + ".0")
	return ip != nil && ip.To4() != nil
}

func randomID() (string, error) {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("netns: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func isID(s string) bool {
	if len(s) != 6 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

var (
	ipOnce sync.Once
	ipPath string
	ipErr  error
)

// lookIP finds `ip`: on PATH, else where Debian installs it (/usr/sbin and
// /sbin are not on a normal user's PATH).
func lookIP() (string, error) {
	ipOnce.Do(func() {
		if p, err := exec.LookPath("ip"); err == nil {
			ipPath = p
			return
		}
		for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"} {
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				ipPath = p
				return
			}
		}
		ipErr = errors.New("netns: the `ip` command is required: apt-get install iproute2")
	})
	return ipPath, ipErr
}

// ipBinary returns the path of `ip`, or fails the test saying how to get it.
func ipBinary(t testing.TB) string {
	t.Helper()
	p, err := lookIP()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runIP runs `ip args...` and returns its standard output; errors carry
// its standard error.
func runIP(args ...string) (string, error) {
	out, _, err := runIPStderr(args...)
	return out, err
}

func runIPStderr(args ...string) (stdout, stderr string, err error) {
	ip, err := lookIP()
	if err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, ip, args...)
	cmd.Stdout = &o
	cmd.Stderr = &e
	if err := cmd.Run(); err != nil {
		return o.String(), e.String(), fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(e.String()))
	}
	return o.String(), e.String(), nil
}
