package main

import (
	"path/filepath"

	"hagate.io/hagate/controller/agent"
)

// ticketKeysFile is --tls-ticket-keys for agent.Options: the state
// folder's file by default, none for "off".
func ticketKeysFile(f *runFlags) string {
	switch f.ticketKeys {
	case "":
		return filepath.Join(f.stateDir, agent.TicketKeysFileName)
	case "off":
		return ""
	}
	return f.ticketKeys
}
