package haproxy

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

// OpTLSKey makes a new TLS session-ticket key the last of a keys file's
// keys (set ssl tls-key): the oldest is dropped, the penultimate encrypts
// new tickets. File is the keys file as haproxy.cfg names it; Value is
// the key (base64), a secret: never logged.
const OpTLSKey OpKind = "tls-key"

// diffTicketKeys turns a change of a tls-ticket-keys file into Runtime API
// changes, or says why it needs a reload. A rotation (the keys shifted by
// one, a new key at the end; or by k < the number of keys, k new keys:
// rotations one after another) is one OpTLSKey per new key, in order:
// HAProxy overwrites its oldest key with each, which leaves it with the
// keys a fresh load of the new file gives, the penultimate encrypting.
// Anything else (keys replaced, their number or size changed) reloads.
func diffTicketKeys(o, n []byte, file string) ([]Op, string) {
	oldKeys, newKeys := ticketKeyLines(o), ticketKeyLines(n)
	if len(oldKeys) != len(newKeys) || len(newKeys) < 2 {
		return nil, fmt.Sprintf("the number of keys changed (%d to %d)", len(oldKeys), len(newKeys))
	}
	size := ticketKeySize(oldKeys[0])
	for _, k := range append(slices.Clone(oldKeys), newKeys...) {
		if s := ticketKeySize(k); s == 0 || s != size || !cliWord(k) {
			return nil, "the keys are not all base64 keys of one size"
		}
	}
	for shift := 1; shift < len(newKeys); shift++ {
		if !slices.Equal(oldKeys[shift:], newKeys[:len(newKeys)-shift]) {
			continue
		}
		var ops []Op
		for _, k := range newKeys[len(newKeys)-shift:] {
			ops = append(ops, Op{Kind: OpTLSKey, File: file, Value: k})
		}
		return ops, ""
	}
	return nil, "the keys were replaced, not rotated (a rotation drops the oldest key and adds a new one at the end)"
}

// ticketKeyLines are the keys of a tls-ticket-keys file, one a line.
func ticketKeyLines(content []byte) []string {
	var keys []string
	for _, line := range bytes.Split(content, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			keys = append(keys, string(line))
		}
	}
	return keys
}

// ticketKeySize is the size of a base64 key in bytes, 0 when it is not
// base64.
func ticketKeySize(k string) int {
	raw, err := base64.StdEncoding.DecodeString(k)
	if err != nil {
		return 0
	}
	return len(raw)
}

// setTicketKey sends "set ssl tls-key <file> <key>"; HAProxy answers "TLS
// ticket key updated!". An error never quotes the key (HAProxy's answers
// to a refused key do not either).
func setTicketKey(r RuntimeAPI, file, key string) error {
	out, err := r.ExecuteRaw("set ssl tls-key " + file + " " + key)
	if err != nil {
		if key != "" {
			return fmt.Errorf("set ssl tls-key %s: %s", file, strings.ReplaceAll(err.Error(), key, "<key>"))
		}
		return fmt.Errorf("set ssl tls-key %s: %w", file, err)
	}
	out = strings.TrimSpace(out)
	if !strings.Contains(out, "updated") {
		if key != "" {
			out = strings.ReplaceAll(out, key, "<key>")
		}
		return fmt.Errorf("set ssl tls-key %s: %s", file, out)
	}
	return nil
}
