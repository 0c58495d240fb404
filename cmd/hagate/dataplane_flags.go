package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"hagate.io/hagate/render/ir"
)

// dataPlaneFlags are the flags that change what haproxy.cfg says beyond
// the Gateway API objects: `hagate run` and `hagate render` take the same
// ones, so that render writes the configuration run would.
type dataPlaneFlags struct {
	accessLog      string
	accessLogFmt   string
	haproxyMetrics string
	threads        int32
	maxconn        int32
}

func (f *dataPlaneFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&f.accessLog, "access-log", string(ir.AccessLogStdout), "HAProxy's access log: stdout, off, a syslog server's IP[:port] (UDP, port 514 by default) or a unix datagram socket path such as /dev/log; lines HAProxy drops are counted in hagate_haproxy_dropped_logs_total and logged")
	fl.StringVar(&f.accessLogFmt, "access-log-format", string(ir.AccessLogHAProxy), "format of the access log lines: haproxy (option httplog, tcplog) or json (a JSON object per request or connection naming the listener, route, backend, server and TLS facts)")
	fl.StringVar(&f.haproxyMetrics, "haproxy-metrics-address", "", "where HAProxy's own Prometheus exporter answers /metrics (its frontends, backends and servers), as host:port or :port, on a port of its own (default: off)")
	fl.Int32Var(&f.threads, "haproxy-threads", 0, "HAProxy's nbthread (0: a thread per CPU)")
	fl.Int32Var(&f.maxconn, "haproxy-maxconn", 0, "HAProxy's maxconn (0: HAProxy's default)")
}

// accessLogs parses --access-log and --access-log-format.
func (f *dataPlaneFlags) accessLogs() (ir.AccessLog, ir.AccessLogFormat, error) {
	format, err := ir.ParseAccessLogFormat(f.accessLogFmt)
	if err != nil {
		return "", "", fmt.Errorf("--access-log-format: %w", err)
	}
	dest, err := ir.ParseAccessLog(f.accessLog)
	if err != nil {
		return "", "", fmt.Errorf("--access-log: %w", err)
	}
	return dest, format, nil
}
