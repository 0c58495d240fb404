package agent

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"hagate.io/hagate/render/snapshot"
)

// ticketAgent is an Agent with a keys file (not started: these tests
// need no HAProxy) and the lines it logs.
func ticketAgent(t *testing.T, file string, rotation time.Duration) (*Agent, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var lines []string
	log := funcr.NewJSON(func(obj string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, obj)
	}, funcr.Options{})
	a, err := New(Options{StateDir: t.TempDir(), TicketKeys: file, TicketRotation: rotation, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return a, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(lines)
	}
}

func fill(a *Agent) []string {
	snap := &snapshot.Snapshot{}
	a.ticketKeysFill(snap)
	return snap.TLSTicketKeys
}

func readKeys(t *testing.T, file string) []string {
	t.Helper()
	keys, err := ReadTicketKeys(file)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// A missing keys file is created (0600, three AES-256 keys); a second
// agent on the same file (a replica) uses its keys; nothing secret is
// logged.
func TestTicketKeysCreatedAndShared(t *testing.T) {
	file := filepath.Join(t.TempDir(), "shared", "tls-ticket-keys")
	a, logs := ticketAgent(t, file, time.Hour)
	keys := fill(a)
	if len(keys) != 3 {
		t.Fatalf("%d keys", len(keys))
	}
	for _, k := range keys {
		if raw, err := base64.StdEncoding.DecodeString(k); err != nil || len(raw) != 80 {
			t.Errorf("a key of %d bytes (%v)", len(raw), err)
		}
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keys file: %v %v", fi, err)
	}
	if !slices.Equal(readKeys(t, file), keys) {
		t.Error("the file does not hold the keys the Snapshot got")
	}
	b, _ := ticketAgent(t, file, time.Hour)
	if !slices.Equal(fill(b), keys) {
		t.Error("a second agent on the same file has other keys")
	}
	if got, _ := createTicketKeys(file); !slices.Equal(got, keys) {
		t.Error("creating the file when it exists (another replica was first) does not give its keys")
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*")); len(m) != 0 {
		t.Errorf("temporary files left: %q", m)
	}
	for _, l := range logs() {
		for _, k := range keys {
			if strings.Contains(l, k[:16]) {
				t.Errorf("a log line holds a key: %s", l)
			}
		}
	}
}

// Keys older than the rotation interval (the file's modification time)
// are rotated: the oldest dropped, a new one at the end, the file
// rewritten 0600; the agent then sees keys it has not rendered. A change
// another replica made is seen the same way.
func TestTicketKeysRotation(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tls-ticket-keys")
	a, _ := ticketAgent(t, file, time.Hour)
	keys := fill(a)
	now := time.Now()
	if a.checkTicketKeys(now) {
		t.Fatal("keys just rendered differ")
	}
	if a.checkTicketKeys(now.Add(59 * time.Minute)) {
		t.Fatal("rotated before the interval")
	}
	if !a.checkTicketKeys(now.Add(61 * time.Minute)) {
		t.Fatal("not rotated after the interval")
	}
	rotated := readKeys(t, file)
	if len(rotated) != 3 || !slices.Equal(rotated[:2], keys[1:]) || slices.Contains(keys, rotated[2]) {
		t.Fatal("the file is not the keys rotated once")
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("rotated file: %v %v", fi, err)
	}
	if !slices.Equal(fill(a), rotated) {
		t.Error("the next render does not take the rotated keys")
	}
	// The file was just written: no rotation is due.
	if a.checkTicketKeys(time.Now().Add(time.Minute)) {
		t.Error("rotated again")
	}

	// Never with rotation 0; another replica's rotation is seen.
	b, _ := ticketAgent(t, file, 0)
	fill(b)
	if b.checkTicketKeys(time.Now().Add(1000 * time.Hour)) {
		t.Error("rotation 0 rotated")
	}
	if !a.checkTicketKeys(time.Now().Add(2 * time.Hour)) {
		t.Fatal("not rotated")
	}
	if !b.checkTicketKeys(time.Now()) {
		t.Error("the other replica's rotation is not seen")
	}
	if !slices.Equal(fill(b), readKeys(t, file)) {
		t.Error("the replica does not render the file's keys")
	}
}

// A keys file that cannot be used keeps the last good keys (none at
// first: tickets off); the problem is logged once, without the file's
// content.
func TestTicketKeysBadFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tls-ticket-keys")
	secret := base64.StdEncoding.EncodeToString([]byte("a secret that is not a key"))
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, logs := ticketAgent(t, file, time.Hour)
	if keys := fill(a); keys != nil {
		t.Fatalf("keys from a bad file: %d", len(keys))
	}
	fill(a)
	if a.checkTicketKeys(time.Now().Add(2 * time.Hour)) {
		t.Error("a bad file rotated or changed keys")
	}
	n := 0
	for _, l := range logs() {
		if strings.Contains(l, "cannot be used") {
			n++
		}
		if strings.Contains(l, secret[:16]) {
			t.Errorf("the log quotes the file: %s", l)
		}
	}
	if n != 1 {
		t.Errorf("the problem is logged %d times, want once", n)
	}
	if data, _ := os.ReadFile(file); string(data) != secret+"\n" {
		t.Error("the bad file was overwritten")
	}

	// Good keys, then a bad file again: the good keys stay.
	good, _ := createTicketKeys(filepath.Join(t.TempDir(), "k"))
	if err := os.WriteFile(file, []byte(strings.Join(good, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fill(a), good) {
		t.Fatal("good keys not taken")
	}
	if err := os.WriteFile(file, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fill(a), good) {
		t.Error("a bad file dropped the last good keys")
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if keys := fill(a); len(keys) != 3 || slices.Equal(keys, good) {
		t.Error("a deleted file is not created again with new keys")
	}
}

// A FIFO (or a device) at the path is refused, never read: reading
// would block.
func TestTicketKeysFIFO(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tls-ticket-keys")
	if err := syscall.Mkfifo(file, 0o600); err != nil {
		t.Skip(err)
	}
	done := make(chan error, 1)
	go func() { _, err := ReadTicketKeys(file); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a FIFO was taken as a keys file")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO blocks")
	}
	a, _ := ticketAgent(t, file, time.Hour)
	if keys := fill(a); keys != nil {
		t.Error("keys from a FIFO")
	}
}

// No keys file: no keys, nothing watched.
func TestTicketKeysOff(t *testing.T) {
	a, _ := ticketAgent(t, "", time.Hour)
	if keys := fill(a); keys != nil {
		t.Error("keys without a keys file")
	}
	a.WatchTicketKeys(t.Context(), time.Millisecond) // returns at once
}
