package pipeline

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"

	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/render/ir"
)

// ticketKeysOption in a golden input gives the Snapshot session-ticket
// keys (a fixed dummy set: never a real key), as the agent does.
const ticketKeysOption = "# test: tls-ticket-keys"

// goldenTicketKeys are the keys of a golden input that asks for them
// (ticketKeysOption): four dummy AES-256 keys, so that render keeps the
// last three.
func goldenTicketKeys(t *testing.T, in string) []string {
	t.Helper()
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == ticketKeysOption {
			found = true
		}
	}
	if !found {
		return nil
	}
	var keys []string
	for i := range 4 {
		keys = append(keys, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{byte('0' + i)}, 80)))
	}
	return keys
}

// describeTicketKeys describes a session-ticket keys file for
// pem-files.txt (its keys never appear); ok is false for other files.
func describeTicketKeys(f *bundle.File) (string, bool) {
	if f.Path != ir.TicketKeysPath {
		return "", false
	}
	n := 0
	for _, line := range strings.Split(string(f.Content), "\n") {
		if line != "" {
			n++
		}
	}
	return fmt.Sprintf("%s (mode %04o)\n  %d TLS session-ticket keys (not shown)\n", f.Path, f.Mode, n), true
}

// projectTicketKeys replaces the keys in the IR tree of ir.yaml by their
// count.
func projectTicketKeys(tree map[string]any, cfg *ir.Config) {
	k, _ := tree["TLSTicketKeys"].(map[string]any)
	if k == nil || cfg.TLSTicketKeys == nil {
		return
	}
	delete(k, "Keys")
	k["Content"] = fmt.Sprintf("%d TLS session-ticket keys (not shown)", len(cfg.TLSTicketKeys.Keys))
}

// noTicketKeys fails when a golden file holds a session-ticket key.
func noTicketKeys(t *testing.T, what string, out []byte, cfg *ir.Config) {
	t.Helper()
	if cfg.TLSTicketKeys == nil {
		return
	}
	for _, k := range cfg.TLSTicketKeys.Keys {
		if bytes.Contains(out, []byte(k[:32])) {
			t.Fatalf("%s holds a TLS session-ticket key", what)
		}
	}
}
