package render

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"

	"hagate.io/hagate/render/ir"
)

// ticketKeySizes are the sizes of a TLS session-ticket key HAProxy takes:
// 48 bytes (AES-128) or 80 bytes (AES-256, what hagate generates).
var ticketKeySizes = []int{48, 80}

// GeneratedTicketKeySize is the size of the keys hagate generates (AES-256).
const GeneratedTicketKeySize = 80

// ParseTicketKeys reads a tls-ticket-keys file: one base64 key a line,
// oldest first (blank lines and surrounding spaces are ignored). It
// returns the keys in canonical base64, or why the file cannot be used;
// the error never quotes a key.
func ParseTicketKeys(data []byte) ([]string, error) {
	var keys []string
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		k, err := canonicalTicketKey(string(line))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	if err := CheckTicketKeys(keys); err != nil {
		return nil, err
	}
	return keys, nil
}

// CheckTicketKeys says why keys cannot be HAProxy's session-ticket keys,
// or nil: at least ir.TicketKeysInUse keys, each base64 of 48 or 80
// bytes, all of one size. The error never quotes a key.
func CheckTicketKeys(keys []string) error {
	if len(keys) < ir.TicketKeysInUse {
		return fmt.Errorf("%d keys, at least %d are needed", len(keys), ir.TicketKeysInUse)
	}
	size := 0
	for i, k := range keys {
		raw, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			return fmt.Errorf("key %d is not base64", i+1)
		}
		if !validTicketKeySize(len(raw)) {
			return fmt.Errorf("key %d is %d bytes long, not 48 (AES-128) or 80 (AES-256)", i+1, len(raw))
		}
		if size != 0 && len(raw) != size {
			return fmt.Errorf("key %d is %d bytes long and key 1 %d: the keys must all be of one size", i+1, len(raw), size)
		}
		size = len(raw)
	}
	return nil
}

// canonicalTicketKey decodes a key and encodes it again in standard
// base64 with padding, the form HAProxy and the Runtime API take.
func canonicalTicketKey(s string) (string, error) {
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		if raw, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return "", errors.New("not a base64 key")
	}
	if !validTicketKeySize(len(raw)) {
		return "", fmt.Errorf("a key of %d bytes, not 48 (AES-128) or 80 (AES-256)", len(raw))
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

func validTicketKeySize(n int) bool {
	for _, s := range ticketKeySizes {
		if n == s {
			return true
		}
	}
	return false
}

// ticketKeys gives the binds that terminate TLS the Snapshot's
// session-ticket keys, the last ir.TicketKeysInUse of them (those HAProxy
// uses). Without keys, or without such binds, tickets stay off; unusable
// keys are a warning (that never quotes them), and tickets stay off.
func (t *translator) ticketKeys() {
	keys := t.snap.TLSTicketKeys
	if len(keys) == 0 || !t.terminatesTLS() {
		return
	}
	if err := CheckTicketKeys(keys); err != nil {
		t.res.Warnings = append(t.res.Warnings, fmt.Sprintf("TLS session tickets are off: the ticket keys cannot be used (%v).", err))
		return
	}
	t.res.Config.TLSTicketKeys = &ir.TicketKeys{
		Path: ir.TicketKeysPath,
		Keys: append([]string(nil), keys[len(keys)-ir.TicketKeysInUse:]...),
	}
}

// terminatesTLS reports whether a frontend of the IR terminates TLS.
func (t *translator) terminatesTLS() bool {
	for _, fe := range t.res.Config.Frontends {
		if fe.TLS != nil {
			return true
		}
	}
	for _, fe := range t.res.Config.TCPFrontends {
		if fe.TLS != nil {
			return true
		}
	}
	return false
}
