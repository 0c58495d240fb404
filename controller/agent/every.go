package agent

import (
	"context"
	"io"
	"net"
	"time"
)

// every calls f each interval until ctx is done (the agent's watchers of
// HAProxy's counters and of the ticket keys file).
func every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f()
	}
}

// statsCommand sends one command to the stats socket and returns the
// whole answer, within 5 s. The watchers use it for commands the Runtime
// API client has no method for, read from the worker that answers now.
func statsCommand(ctx context.Context, socket, cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", err
	}
	out, err := io.ReadAll(c)
	return string(out), err
}
