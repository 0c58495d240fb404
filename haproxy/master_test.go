package haproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Answers of a real HAProxy 2.6.12 master (Debian bookworm) to `show proc`.
const (
	// Just started.
	showProcStarted = "#<PID>          <type>          <reloads>       <uptime>        <version>      \n" +
		"30610           master          0 [failed: 0]   0d00h10m09s     2.6.12-1+deb12u4\n" +
		"# workers\n" +
		"30613           worker          0               0d00h10m09s     2.6.12-1+deb12u4\n" +
		"# programs\n\n"
	// After a good reload while the old worker still had a request in
	// flight; the master has been reloaded 10 times (the columns shift).
	showProcOldWorker = "#<PID>          <type>          <reloads>       <uptime>        <version>      \n" +
		"30610           master          10 [failed: 0]  0d00h11m24s     2.6.12-1+deb12u4\n" +
		"# workers\n" +
		"1879            worker          0               0d00h00m00s     2.6.12-1+deb12u4\n" +
		"# old workers\n" +
		"1691            worker          2               0d00h00m02s     2.6.12-1+deb12u4\n" +
		"# programs\n\n"
	// After a failed reload (a port taken by another process): every
	// counter went up, but no worker changed place.
	showProcFailed = "#<PID>          <type>          <reloads>       <uptime>        <version>      \n" +
		"30610           master          14 [failed: 1]  0d00h11m41s     2.6.12-1+deb12u4\n" +
		"# workers\n" +
		"2552            worker          1               0d00h00m04s     2.6.12-1+deb12u4\n" +
		"# old workers\n" +
		"2475            worker          2               0d00h00m05s     2.6.12-1+deb12u4\n" +
		"# programs\n\n"
)

func TestMasterParseShowProc(t *testing.T) {
	const v = "2.6.12-1+deb12u4"
	tests := []struct {
		name string
		in   string
		want []Proc
	}{
		{"started", showProcStarted, []Proc{
			{PID: 30610, Type: "master", Uptime: "0d00h10m09s", Version: v},
			{PID: 30613, Type: "worker", Uptime: "0d00h10m09s", Version: v},
		}},
		{"old worker", showProcOldWorker, []Proc{
			{PID: 30610, Type: "master", Reloads: 10, Uptime: "0d00h11m24s", Version: v},
			{PID: 1879, Type: "worker", Uptime: "0d00h00m00s", Version: v},
			{PID: 1691, Type: "worker", Reloads: 2, Uptime: "0d00h00m02s", Version: v, Old: true},
		}},
		{"failed reload", showProcFailed, []Proc{
			{PID: 30610, Type: "master", Reloads: 14, FailedReloads: 1, Uptime: "0d00h11m41s", Version: v},
			{PID: 2552, Type: "worker", Reloads: 1, Uptime: "0d00h00m04s", Version: v},
			{PID: 2475, Type: "worker", Reloads: 2, Uptime: "0d00h00m05s", Version: v, Old: true},
		}},
		{"programs (management.txt)", "#<PID>          <type>          <reloads>       <uptime>        <version>\n" +
			"1162            master          5 [failed: 0]   0d00h02m07s     2.5-dev13\n" +
			"# workers\n" +
			"1271            worker          1               0d00h00m00s     2.5-dev13\n" +
			"# old workers\n" +
			"1233            worker          3               0d00h00m43s     2.0-dev3-6019f6-289\n" +
			"# programs\n" +
			"1244            foo             0               0d00h00m00s     -\n" +
			"1255            bar             0               0d00h00m00s     -\n", []Proc{
			{PID: 1162, Type: "master", Reloads: 5, Uptime: "0d00h02m07s", Version: "2.5-dev13"},
			{PID: 1271, Type: "worker", Reloads: 1, Uptime: "0d00h00m00s", Version: "2.5-dev13"},
			{PID: 1233, Type: "worker", Reloads: 3, Uptime: "0d00h00m43s", Version: "2.0-dev3-6019f6-289", Old: true},
			{PID: 1244, Type: "foo", Uptime: "0d00h00m00s", Version: "-"},
			{PID: 1255, Type: "bar", Uptime: "0d00h00m00s", Version: "-"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseShowProc(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseShowProc =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestMasterParseShowProcErrors(t *testing.T) {
	for _, in := range []string{
		"",                   // a master busy reloading accepts and closes
		"Unknown command.\n", // not a master socket
		"#<PID>          <type>          <reloads>       <uptime>        <version>\n# workers\n",
		"#<PID>          <type>          <reloads>       <uptime>        <version>\nx master 0 [failed: 0] 0d00h00m00s 2.6\n",
		"#<PID>          <type>          <reloads>       <uptime>        <version>\n1 master 0 [failed: x] 0d00h00m00s 2.6\n",
	} {
		if got, err := parseShowProc(in); err == nil {
			t.Errorf("parseShowProc(%q) = %+v, want an error", in, got)
		}
	}
}

func TestMasterReload(t *testing.T) {
	h := startMW(t, "v1")
	cli := h.p.CLI()
	before := currentWorkers(t, cli)
	mustGet(t, h.url(), fmt.Sprintf("v1 %d", before[0]))
	logShowProc(t, cli, "before the reload")

	h.writeConfig(t, mwConfig(h.dir, h.port, "v2", ""))
	start := time.Now()
	res, err := cli.Reload(context.Background())
	if err != nil {
		t.Fatalf("Reload: %v", err)
	}
	t.Logf("Reload took %v: %+v", time.Since(start).Round(time.Millisecond), res)
	logShowProc(t, cli, "after the reload")
	if !reflect.DeepEqual(res.OldWorkers, before) {
		t.Errorf("OldWorkers = %v, want %v", res.OldWorkers, before)
	}
	if len(res.NewWorkers) != 1 || res.NewWorkers[0] == before[0] {
		t.Fatalf("NewWorkers = %v, want one worker other than %d", res.NewWorkers, before[0])
	}
	if res.MasterReloads != 1 {
		t.Errorf("MasterReloads = %d, want 1", res.MasterReloads)
	}
	if got := currentWorkers(t, cli); !reflect.DeepEqual(got, res.NewWorkers) {
		t.Errorf("current workers = %v, want %v", got, res.NewWorkers)
	}
	mustGet(t, h.url(), fmt.Sprintf("v2 %d", res.NewWorkers[0]))
}

// TestMasterReloadHitless reloads 10 times while two clients loop, one on a
// keep-alive connection and one opening a connection per request: no
// request may fail.
func TestMasterReloadHitless(t *testing.T) {
	h := startMW(t, "v0")
	cli := h.p.CLI()
	clients := map[string]*http.Client{
		"keep-alive":     {Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}},
		"new connection": mwNewConnClient(),
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	type tally struct {
		ok, failed atomic.Int64
		retried    atomic.Int64 // sent again by net/http on a new connection
		mu         sync.Mutex
		errs       []string
	}
	tallies := map[string]*tally{}
	for name, c := range clients {
		tl := &tally{}
		tallies[name] = tl
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// net/http silently resends an idempotent request that
				// met a keep-alive connection the server had just closed;
				// count those: a client that does not retry would see
				// them fail.
				var conns int
				ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { conns++ }})
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.url(), nil)
				_, err := mwDo(c, req)
				if conns > 1 {
					tl.retried.Add(1)
				}
				if err != nil {
					tl.failed.Add(1)
					tl.mu.Lock()
					if len(tl.errs) < 10 {
						tl.errs = append(tl.errs, err.Error())
					}
					tl.mu.Unlock()
				} else {
					tl.ok.Add(1)
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	for i := 1; i <= 10; i++ {
		h.writeConfig(t, mwConfig(h.dir, h.port, fmt.Sprintf("v%d", i), ""))
		res, err := cli.Reload(context.Background())
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("reload %d: %v", i, err)
		}
		want := fmt.Sprintf("v%d %d", i, res.NewWorkers[0])
		if got, err := mwGet(mwNewConnClient(), h.url()); err != nil || got != want {
			t.Errorf("after reload %d: GET = %q, %v; want %q", i, got, err, want)
		}
	}
	elapsed := time.Since(start)
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	for name, tl := range tallies {
		t.Logf("%s client: %d requests, %d failed, %d retried by net/http, during 10 reloads in %v",
			name, tl.ok.Load()+tl.failed.Load(), tl.failed.Load(), tl.retried.Load(), elapsed.Round(time.Millisecond))
		if tl.failed.Load() > 0 {
			t.Errorf("%s client: %d requests failed, e.g. %q", name, tl.failed.Load(), tl.errs)
		}
		if tl.ok.Load() == 0 {
			t.Errorf("%s client: no request succeeded", name)
		}
	}
}

// TestMasterReloadFailure reloads with configurations that cannot be
// loaded: Reload fails, the master counts a failed reload, the old worker
// keeps serving, and a fixed configuration reloads again.
func TestMasterReloadFailure(t *testing.T) {
	tests := []struct {
		name string
		// broken writes the broken configuration; it may not pass
		// `haproxy -c`.
		broken func(t *testing.T, h *mwHarness)
		// paused: the old worker stops accepting connections while the new
		// configuration fails, so requests are refused meanwhile.
		paused bool
		// why is in the error: HAProxy's alert.
		why string
	}{{
		// The certificate was there at `haproxy -c` time and is gone at
		// reload time: the master fails while parsing.
		name: "missing certificate",
		broken: func(t *testing.T, h *mwHarness) {
			cfg := mwConfig(h.dir, h.port, "v2", fmt.Sprintf("    bind 127.0.0.1:%d ssl crt %s/gone.pem\n", h.port+1, h.dir))
			if err := os.WriteFile(h.cfg, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		why: "unable to stat SSL certificate",
	}, {
		// Passes `haproxy -c` (which binds nothing); the master fails while
		// binding. HAProxy 2.6 then pauses the old worker's listeners
		// (SIGTTOU) and retries the bind for about a second before giving
		// up and resuming them (SIGTTIN).
		name: "port taken",
		broken: func(t *testing.T, h *mwHarness) {
			busy, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { busy.Close() })
			h.writeConfig(t, mwConfig(h.dir, h.port, "v2", fmt.Sprintf("    bind %s\n", busy.Addr())))
		},
		paused: true,
		why:    "cannot bind socket (Address already in use)",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startMW(t, "v1")
			cli := h.p.CLI()
			before := currentWorkers(t, cli)
			tt.broken(t, h)

			stop := make(chan struct{})
			var ok, failed atomic.Int64
			var firstErr atomic.Value
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := mwNewConnClient()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := mwGet(c, h.url()); err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					} else {
						ok.Add(1)
					}
				}
			}()
			start := time.Now()
			res, err := cli.Reload(context.Background())
			elapsed := time.Since(start)
			close(stop)
			wg.Wait()
			if err == nil {
				t.Fatalf("Reload succeeded: %+v", res)
			}
			t.Logf("Reload failed after %v as it should: %v", elapsed.Round(time.Millisecond), err)
			t.Logf("requests during the failed reload: %d ok, %d failed (first error: %v)", ok.Load(), failed.Load(), firstErr.Load())
			if failed.Load() > 0 && !tt.paused {
				t.Errorf("%d requests failed during the failed reload", failed.Load())
			}
			for _, want := range []string{"could not load the new configuration", tt.why} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
			procs := logShowProc(t, cli, "after the failed reload")
			if procs[0].FailedReloads != 1 || procs[0].Reloads != 1 {
				t.Errorf("master = %+v, want 1 reload, 1 failed", procs[0])
			}
			if got := currentWorkers(t, cli); !reflect.DeepEqual(got, before) {
				t.Errorf("current workers = %v, want the old %v", got, before)
			}
			mustGet(t, h.url(), fmt.Sprintf("v1 %d", before[0]))

			// Failing again counts again.
			if _, err := cli.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "failed reloads 2, was 1") {
				t.Errorf("second Reload of the broken configuration: %v, want failed reloads 2, was 1", err)
			}
			mustGet(t, h.url(), fmt.Sprintf("v1 %d", before[0]))
			if h.p.Restarts() != 0 {
				t.Errorf("Restarts() = %d: the master died", h.p.Restarts())
			}

			// Fixed: the next reload works.
			h.writeConfig(t, mwConfig(h.dir, h.port, "v3", ""))
			res, err = cli.Reload(context.Background())
			if err != nil {
				t.Fatalf("Reload of the fixed configuration: %v", err)
			}
			logShowProc(t, cli, "after the next, good reload")
			mustGet(t, h.url(), fmt.Sprintf("v3 %d", res.NewWorkers[0]))
		})
	}
}

// TestMasterReloadMasterGone: a reload whose master dies fails at once
// rather than at the timeout.
func TestMasterReloadMasterGone(t *testing.T) {
	h := startMW(t, "v1")
	cli := *h.p.CLI()
	cli.ReloadTimeout = 10 * time.Second
	var once sync.Once
	alive, pid := cli.Alive, h.p.MasterPID()
	cli.Alive = func() bool {
		// Kill the master as soon as the reload has been sent.
		once.Do(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
		return alive()
	}
	start := time.Now()
	_, err := cli.Reload(context.Background())
	if err == nil {
		t.Fatal("Reload succeeded while the master was killed")
	}
	t.Logf("Reload failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if time.Since(start) > 5*time.Second {
		t.Errorf("Reload took %v to notice the master was gone", time.Since(start))
	}
}

func TestMasterReloadNoMaster(t *testing.T) {
	cli := &MasterCLI{Path: t.TempDir() + "/none.sock"}
	_, err := cli.Reload(context.Background())
	if err == nil || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("Reload without a master = %v, want a no such file error", err)
	}
}

// logShowProc logs `show proc` and returns it.
func logShowProc(t *testing.T, cli *MasterCLI, when string) []Proc {
	t.Helper()
	out, err := cli.Command(context.Background(), "show proc")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("show proc %s:\n%s", when, out)
	procs, err := parseShowProc(out)
	if err != nil {
		t.Fatal(err)
	}
	return procs
}
