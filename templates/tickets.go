package templates

import "strings"

// ticketKeysFile is a tls-ticket-keys file: one base64 key a line, oldest
// first, nothing else (HAProxy reads every line as a key).
func ticketKeysFile(keys []string) []byte {
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}
