package render

import (
	"bytes"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/render/ir"
)

// policyCtx is a BackendTLSPolicy during a translation.
type policyCtx struct {
	p *gwapiv1.BackendTLSPolicy
	// tls is what servers of targeted backends do; nil when the policy
	// cannot be applied (see invalid).
	tls *ir.UpstreamTLS
	// ca is the policy's CA bundle, when it has CA references.
	ca *ir.CAFile
	// invalid is the Accepted=False reason and message when the policy
	// cannot be applied: its targets' backends answer 503.
	invalidReason gwapiv1.PolicyConditionReason
	invalidMsg    string
	// refReason and refMsg: ResolvedRefs=False (a CA reference is not
	// usable).
	refReason gwapiv1.PolicyConditionReason
	refMsg    string
	// conflicted names the policy that takes precedence on a target.
	conflicted string
	// ancestors are the Gateways whose routes reach a targeted backend.
	ancestors map[types.NamespacedName]*gatewayCtx
	// losses are the policies that took a target from this one.
	losses []*policyCtx
}

// policyTarget is a Service, or one of its ports by name ("" for all).
type policyTarget struct {
	svc     types.NamespacedName
	section string
}

// indexPolicies checks every BackendTLSPolicy and resolves conflicts: the
// older policy (then the first by namespace/name) takes a target.
func (t *translator) indexPolicies() {
	ps := append([]*gwapiv1.BackendTLSPolicy(nil), t.snap.BackendTLSPolicies...)
	sort.Slice(ps, func(i, j int) bool { return olderFirst(ps[i], ps[j]) })
	t.policies = map[policyTarget]*policyCtx{}
	for _, p := range ps {
		if !validName(p.Namespace, p.Name) {
			continue
		}
		pc := &policyCtx{p: p, ancestors: map[types.NamespacedName]*gatewayCtx{}}
		t.checkPolicy(pc)
		t.allPolicies = append(t.allPolicies, pc)
		for _, tr := range p.Spec.TargetRefs {
			if tr.Group != "" || tr.Kind != "Service" {
				continue
			}
			key := policyTarget{types.NamespacedName{Namespace: p.Namespace, Name: string(tr.Name)}, ""}
			if tr.SectionName != nil {
				key.section = string(*tr.SectionName)
			}
			if winner, ok := t.policies[key]; ok {
				if pc.conflicted == "" {
					pc.conflicted = fmt.Sprintf("BackendTLSPolicy %s/%s, which takes precedence (older, or first by namespace/name), already targets Service %s", winner.p.Namespace, winner.p.Name, key.svc.Name)
					if key.section != "" {
						pc.conflicted += " port " + key.section
					}
				}
				// The loser still shares its targets' ancestors, for status.
				pc.losses = append(pc.losses, winner)
				continue
			}
			t.policies[key] = pc
		}
	}
}

// checkPolicy validates a policy's CA references, hostname and SANs.
func (t *translator) checkPolicy(pc *policyCtx) {
	v := pc.p.Spec.Validation
	invalid := func(reason gwapiv1.PolicyConditionReason, format string, a ...any) {
		pc.invalidReason, pc.invalidMsg = reason, fmt.Sprintf(format, a...)
	}
	if why, ok := t.refused(policyOrigin(pc.p)); ok {
		invalid(gwapiv1.PolicyReasonInvalid, "%s", refusedMsg("the configuration of this policy", why)+" Its backends answer 503.")
		return
	}
	host := string(v.Hostname)
	if !validHostname(host) || isWildcard(host) {
		invalid(gwapiv1.PolicyReasonInvalid, "validation.hostname %q is not a valid DNS name (no wildcard).", host)
		return
	}
	// HAProxy checks the certificate against the SNI name it sends: the
	// hostname is verified in the handshake.
	up := &ir.UpstreamTLS{SNI: host, PolicyName: pc.p.Namespace + "/" + pc.p.Name, Origin: policyOrigin(pc.p)}
	switch {
	case len(v.CACertificateRefs) > 0 && v.WellKnownCACertificates != nil:
		invalid(gwapiv1.PolicyReasonInvalid, "validation sets both caCertificateRefs and wellKnownCACertificates; set one.")
		return
	case v.WellKnownCACertificates != nil:
		if *v.WellKnownCACertificates != gwapiv1.WellKnownCACertificatesSystem {
			invalid(gwapiv1.PolicyReasonInvalid, "wellKnownCACertificates %q is not supported (System is).", *v.WellKnownCACertificates)
			return
		}
		up.CAFile = ir.SystemCA
	case len(v.CACertificateRefs) > 0:
		var bundle bytes.Buffer
		for _, ref := range v.CACertificateRefs {
			pemData, _, prob := t.loadCAConfigMap("BackendTLSPolicy", pc.p.Namespace, string(ref.Group), string(ref.Kind), pc.p.Namespace, string(ref.Name))
			if prob != nil {
				if pc.refMsg == "" {
					pc.refReason = gwapiv1.BackendTLSPolicyReasonInvalidCACertificateRef
					if prob.kind == refWrongKind {
						pc.refReason = gwapiv1.BackendTLSPolicyReasonInvalidKind
					}
				}
				pc.refMsg = strings.TrimSpace(pc.refMsg + " " + prob.msg)
				continue
			}
			bundle.Write(pemData)
		}
		if bundle.Len() == 0 {
			invalid(gwapiv1.BackendTLSPolicyReasonNoValidCACertificate, "No CA certificate reference is usable: requests to the targeted backends fail rather than reach them unverified.")
			return
		}
		pc.ca = &ir.CAFile{Path: ir.DirCAs + fmt.Sprintf("policy/%s/%s", pc.p.Namespace, fileName(pc.p.Name)), PEM: bundle.Bytes(), Origin: policyOrigin(pc.p)}
		up.CAFile = pc.ca.Path
	default:
		invalid(gwapiv1.PolicyReasonInvalid, "validation sets neither caCertificateRefs nor wellKnownCACertificates.")
		return
	}
	if len(v.SubjectAltNames) > 0 {
		for _, san := range v.SubjectAltNames {
			switch san.Type {
			case gwapiv1.HostnameSubjectAltNameType:
				h := string(san.Hostname)
				if !validHostname(h) {
					invalid(gwapiv1.PolicyReasonInvalid, "subjectAltNames hostname %q is not a valid DNS name.", h)
					return
				}
				up.SANs = append(up.SANs, ir.SANCheck{Display: h, DERHex: generalNameHex(2, h)})
			case gwapiv1.URISubjectAltNameType:
				u := string(san.URI)
				if pu, err := url.Parse(u); err != nil || !pu.IsAbs() || !printable(u) {
					invalid(gwapiv1.PolicyReasonInvalid, "subjectAltNames URI %q is not an absolute URI.", u)
					return
				}
				up.SANs = append(up.SANs, ir.SANCheck{Display: u, DERHex: generalNameHex(6, u)})
			default:
				invalid(gwapiv1.PolicyReasonInvalid, "subjectAltNames type %q is not supported (Hostname, URI).", san.Type)
				return
			}
		}
	}
	pc.tls = up
}

func printable(s string) bool {
	for _, r := range s {
		if r <= 0x20 || r >= 0x7f {
			return false
		}
	}
	return true
}

// generalNameHex is the upper-case hex of the DER encoding of an X.509
// GeneralName of the given context tag (2 dNSName, 6 URI) and value, as
// it appears inside a certificate's subjectAltName extension.
func generalNameHex(tag int, value string) string {
	der, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, Bytes: []byte(value)})
	return strings.ToUpper(hex.EncodeToString(der))
}

// policyFor returns the policy of a Service port: one naming the port
// takes precedence over one for the whole Service.
func (t *translator) policyFor(svc types.NamespacedName, portName string) *policyCtx {
	if portName != "" {
		if pc, ok := t.policies[policyTarget{svc, portName}]; ok {
			return pc
		}
	}
	return t.policies[policyTarget{svc, ""}]
}

// writePolicyStatus writes status.ancestors: one entry per Gateway whose
// routes reach a backend the policy targets.
func (t *translator) writePolicyStatus() {
	for _, pc := range t.allPolicies {
		for _, w := range pc.losses {
			for k, g := range w.ancestors {
				pc.ancestors[k] = g
			}
		}
		if len(pc.ancestors) == 0 {
			continue
		}
		var keys []types.NamespacedName
		for k := range pc.ancestors {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		st := &gwapiv1.PolicyStatus{}
		gen := pc.p.Generation
		for _, k := range keys {
			ns := gwapiv1.Namespace(k.Namespace)
			kind := gwapiv1.Kind("Gateway")
			group := gwapiv1.Group(gwapiv1.GroupName)
			a := gwapiv1.PolicyAncestorStatus{
				AncestorRef:    gwapiv1.ParentReference{Group: &group, Kind: &kind, Namespace: &ns, Name: gwapiv1.ObjectName(k.Name)},
				ControllerName: gwapiv1.GatewayController(t.opts.ControllerName),
			}
			var conds []metav1.Condition
			switch {
			case pc.conflicted != "":
				conds = append(conds, cond(string(gwapiv1.PolicyConditionAccepted), false, string(gwapiv1.PolicyReasonConflicted), pc.conflicted+".", gen))
			case pc.invalidMsg != "":
				conds = append(conds, cond(string(gwapiv1.PolicyConditionAccepted), false, string(pc.invalidReason), pc.invalidMsg, gen))
			default:
				conds = append(conds, cond(string(gwapiv1.PolicyConditionAccepted), true, string(gwapiv1.PolicyReasonAccepted), "The policy applies to the backends it targets.", gen))
			}
			if pc.refMsg != "" {
				conds = append(conds, cond(string(gwapiv1.BackendTLSPolicyConditionResolvedRefs), false, string(pc.refReason), pc.refMsg, gen))
			} else {
				conds = append(conds, cond(string(gwapiv1.BackendTLSPolicyConditionResolvedRefs), true, string(gwapiv1.BackendTLSPolicyReasonResolvedRefs), "All references are resolved.", gen))
			}
			a.Conditions = conds
			st.Ancestors = append(st.Ancestors, a)
		}
		t.st.BackendTLSPolicies[nn(pc.p)] = st
	}
}
