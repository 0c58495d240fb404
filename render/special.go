package render

import "hagate.io/hagate/render/ir"

// specialBackends gives every share that reaches no Service its backend:
// the share of HTTP requests of a backendRef that does not resolve is
// answered 500 (ir.ErrorBackend); a TLS connection no route takes, or of a
// backendRef that does not resolve, is closed (ir.ClosedBackend). Those
// backends are part of the configuration when something uses them.
func (t *translator) specialBackends() {
	cfg := t.res.Config
	for _, fe := range cfg.Frontends {
		for _, r := range fe.Rules {
			for i := range r.Backends {
				if r.Backends[i].Backend == "" {
					r.Backends[i].Backend = ir.ErrorBackend
					cfg.Error = &ir.Backend{Name: ir.ErrorBackend, Mode: ir.ModeHTTP,
						Comment: "The share of requests of backendRefs that do not resolve.",
						Refuse:  &ir.Refusal{Status: 500, Text: "The backend of this route does not resolve."}}
				}
			}
		}
	}
	closed := func() {
		cfg.Closed = &ir.Backend{Name: ir.ClosedBackend, Mode: ir.ModeTCP,
			Comment: "Connections no route takes, or the share of backendRefs that do not resolve.", Refuse: &ir.Refusal{}}
	}
	for _, fe := range cfg.TCPFrontends {
		if fe.Default == nil {
			fe.Default = &ir.SNIRoute{Comment: "No listener takes other names: their connections are closed."}
		}
		for _, r := range append(append([]*ir.SNIRoute(nil), fe.Routes...), fe.Default) {
			if len(r.Backends) == 0 {
				r.Backends = []ir.WeightedBackend{{Backend: ir.ClosedBackend, Weight: 1}}
			}
			for i := range r.Backends {
				if r.Backends[i].Backend == "" {
					r.Backends[i].Backend = ir.ClosedBackend
				}
				if r.Backends[i].Backend == ir.ClosedBackend {
					closed()
				}
			}
		}
	}
}
