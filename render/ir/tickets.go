package ir

// DirTickets holds the TLS session-ticket keys file (a folder of its own,
// 0700: the keys are secrets).
const DirTickets = "tickets/"

// TicketKeysPath is the path of the TLS session-ticket keys file,
// relative to the configuration root.
const TicketKeysPath = DirTickets + "tls-ticket-keys"

// TicketKeysInUse is how many keys HAProxy uses (its build's
// TLS_TICKETS_NO, 3 in Debian's 2.6): the last ones of the file, the
// penultimate to encrypt tickets, all of them to decrypt.
const TicketKeysInUse = 3

// TicketKeys are the TLS session-ticket keys every bind that terminates
// TLS uses (tls-ticket-keys), so that a client's session resumes across
// reloads and on every replica that has the same keys.
type TicketKeys struct {
	// Path is the keys file, relative to the configuration root.
	Path string
	// Keys are the keys, base64 (canonical, standard alphabet), oldest
	// first: TicketKeysInUse of them, all of one size (48 or 80 bytes).
	// They are secrets: never logged, never in a golden file.
	Keys []string
}
