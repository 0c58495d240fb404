package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// serveName serves HTTP on ln, answering every request with name and the
// client's address, and stops the server when the test ends.
func serveName(t *testing.T, ln net.Listener, name string) {
	t.Helper()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			fmt.Fprintf(w, "%s %s", name, host)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve %s: %v", name, err)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// assertGone checks that a host's namespace and veth pair no longer exist.
func assertGone(t *testing.T, name, link string) {
	t.Helper()
	out, err := runIP("netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, name) {
		t.Errorf("namespace %s still listed by ip netns list:\n%s", name, out)
	}
	if _, err := os.Stat(filepath.Join(netnsRunDir, name)); err == nil {
		t.Errorf("%s/%s still exists", netnsRunDir, name)
	}
	out, err = runIP("-o", "link")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, link) {
		t.Errorf("veth %s still listed by ip link:\n%s", link, out)
	}
}

// threadsInOwnNamespace fails the test when a thread of this process is not
// in the process's network namespace: Do must never return a thread that is
// still switched.
func threadsInOwnNamespace(t *testing.T) {
	t.Helper()
	want, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		got, err := os.Readlink(filepath.Join("/proc/self/task", task.Name(), "ns/net"))
		if err != nil {
			continue // the thread ended meanwhile
		}
		if got != want {
			t.Errorf("thread %s is in %s, not %s", task.Name(), got, want)
		}
	}
}

func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestHostServesThroughVeth(t *testing.T) {
	var name, link string
	t.Run("host", func(t *testing.T) {
		h := New(t, "198.18.0")
		name, link = h.Name, h.Link
		if h.Addr != "198.18.0.2" || h.Gateway != "198.18.0.1" {
			t.Fatalf("Addr, Gateway = %s, %s; want 198.18.0.2, 198.18.0.1", h.Addr, h.Gateway)
		}
		if !strings.HasPrefix(h.Name, "hagate-") || len(h.Name) > 15 || len(h.Link) > 15 {
			t.Fatalf("names %q, %q: want hagate-..., at most 15 characters", h.Name, h.Link)
		}

		ln := h.Listen(t, "tcp", h.Addr+":8080")
		serveName(t, ln, "first")
		status, body := get(t, "http://198.18.0.2:8080/")
		if status != http.StatusOK {
			t.Fatalf("status %d, want 200", status)
		}
		// The request came from our end of the veth.
		if body != "first 198.18.0.1" {
			t.Fatalf("body %q, want %q", body, "first 198.18.0.1")
		}
		// The address exists only inside the namespace: here it cannot be
		// bound.
		if l, err := net.Listen("tcp", h.Addr+":0"); err == nil {
			l.Close()
			t.Fatalf("%s is bindable in the test's namespace; the listener is not inside %s", h.Addr, h.Name)
		} else if !errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Fatalf("listen on %s here: %v, want EADDRNOTAVAIL", h.Addr, err)
		}
		threadsInOwnNamespace(t)
	})
	if name == "" {
		return
	}
	assertGone(t, name, link)
}

func TestStartRunsInsideAndIsKilled(t *testing.T) {
	var name, link string
	var pid int
	t.Run("host", func(t *testing.T) {
		h := New(t, "198.18.1")
		name, link = h.Name, h.Link
		cmd := h.Start(t, "sleep", "30")
		pid = cmd.Process.Pid

		// The process is in the host's namespace (ip netns exec execs the
		// command, so the pid is sleep's).
		want := nsInode(t, filepath.Join(netnsRunDir, h.Name))
		deadline := time.Now().Add(5 * time.Second)
		for {
			exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			if strings.HasSuffix(exe, "/sleep") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pid %d runs %q, not sleep", pid, exe)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got := nsInode(t, fmt.Sprintf("/proc/%d/ns/net", pid)); got != want {
			t.Fatalf("sleep is in network namespace %d, want %d (%s)", got, want, h.Name)
		}
	})
	if pid == 0 {
		return
	}
	// Reaped by the cleanup: the pid no longer exists.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("sleep (pid %d) after cleanup: kill -0 gave %v, want ESRCH", pid, err)
	}
	assertGone(t, name, link)
}

func TestAddAddress(t *testing.T) {
	var name, link string
	t.Run("host", func(t *testing.T) {
		h := New(t, "198.18.2")
		name, link = h.Name, h.Link
		a := h.AddAddress(t)
		b := h.AddAddress(t)
		if a != "198.18.2.3" || b != "198.18.2.4" {
			t.Fatalf("AddAddress gave %s, %s; want 198.18.2.3, 198.18.2.4", a, b)
		}
		for _, addr := range []string{h.Addr, a, b} {
			serveName(t, h.Listen(t, "tcp", addr+":8080"), addr)
		}
		for _, addr := range []string{h.Addr, a, b} {
			status, body := get(t, "http://"+addr+":8080/")
			if want := addr + " 198.18.2.1"; status != http.StatusOK || body != want {
				t.Errorf("GET %s: %d %q, want 200 %q", addr, status, body, want)
			}
		}
	})
	if name == "" {
		return
	}
	assertGone(t, name, link)
}

// TestDoReturnsThreads switches many threads at once, including failing
// listens, and checks that none stays in a host's namespace.
func TestDoReturnsThreads(t *testing.T) {
	h := New(t, "")
	if !strings.HasPrefix(h.Addr, "198.18.") {
		t.Fatalf("Addr %s: want a 198.18.N.2", h.Addr)
	}
	ln := h.Listen(t, "tcp", h.Addr+":0")
	port := ln.Addr().(*net.TCPAddr).Port

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 50; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			err := h.Do(func() error {
				l, err := net.Listen("tcp", h.Addr+":0")
				if err == nil {
					l.Close()
				}
				return err
			})
			if err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			// Taken: fails inside the namespace.
			err := h.Do(func() error {
				l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", h.Addr, port))
				if err == nil {
					l.Close()
				}
				return err
			})
			if !errors.Is(err, syscall.EADDRINUSE) {
				errs <- fmt.Errorf("listen on a taken port: %v, want EADDRINUSE", err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := h.Do(func() error { panic("boom") }); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Do with a panicking fn: %v, want the panic as an error", err)
	}
	if err := h.Do(func() error { runtime.Goexit(); return nil }); err == nil {
		t.Error("Do with a fn that calls runtime.Goexit: nil error")
	}
	threadsInOwnNamespace(t)
}

func TestAutoPrefixesDiffer(t *testing.T) {
	a := New(t, "")
	b := New(t, "")
	if a.Gateway == b.Gateway {
		t.Fatalf("two hosts on %s", a.Gateway)
	}
	for _, h := range []*Host{a, b} {
		serveName(t, h.Listen(t, "tcp", h.Addr+":8080"), h.Name)
		if status, body := get(t, "http://"+h.Addr+":8080/"); status != http.StatusOK || !strings.HasPrefix(body, h.Name+" ") {
			t.Errorf("GET %s: %d %q", h.Addr, status, body)
		}
	}
}

// TestStaleHostRemoved leaves a host behind as a crashed run would (no lock
// held, namespace and veth still there) and checks that New on its prefix
// removes it.
func TestStaleHostRemoved(t *testing.T) {
	const prefix = "198.18.3"
	id, err := randomID()
	if err != nil {
		t.Fatal(err)
	}
	name, link := nsPrefix+id, linkPrefix+id
	ipBinary(t)
	t.Cleanup(func() { teardown(name, link) }) // in case New does not
	for _, args := range [][]string{
		{"netns", "add", name},
		{"link", "add", link, "type", "veth", "peer", "name", peerName, "netns", name},
		{"addr", "add", prefix + ".1/24", "dev", link},
		{"link", "set", link, "up"},
	} {
		if _, err := runIP(args...); err != nil {
			t.Fatal(err)
		}
	}
	h := New(t, prefix)
	assertGone(t, name, link)
	serveName(t, h.Listen(t, "tcp", h.Addr+":8080"), "new")
	if status, body := get(t, "http://"+h.Addr+":8080/"); status != http.StatusOK || body != "new "+prefix+".1" {
		t.Fatalf("GET: %d %q", status, body)
	}
}

func TestSamePrefixTwiceInOneTestFails(t *testing.T) {
	New(t, "198.18.4")
	_, _, err := acquirePrefix(t, "198.18.4")
	if err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("second host on the same prefix in one test: %v, want an error", err)
	}
}

func TestInvalidPrefix(t *testing.T) {
	for _, p := range []string{"198.18", "198.18.0.0", "198.18.300", "fd00::", "a.b.c"} {
		if _, _, err := acquirePrefix(t, p); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
}

func TestStartLogsEarlyFailure(t *testing.T) {
	h := New(t, "198.18.5")
	// Exits at once with an error; Start's goroutine logs its output. The
	// test only checks that this neither fails nor hangs the cleanup.
	cmd := h.Start(t, "sh", "-c", "echo from-inside; exit 3")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if err := syscall.Kill(cmd.Process.Pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("sh -c 'exit 3' still running after 5s")
}
