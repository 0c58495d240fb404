// Golden tests: every testdata/<case>/in.yaml (a file kubectl apply would
// accept) is rendered, and what it gives is compared byte for byte with
// testdata/<case>/out/ (make golden, or -update, rewrites out/):
//
//   - haproxy.cfg, crt-lists/, maps/: the files HAProxy reads;
//   - pem-files.txt: the PEM files (certificates with their keys, CA
//     bundles) and the TLS session-ticket keys file, described, never
//     copied (an input with the line "# test: tls-ticket-keys" renders
//     with a fixed set of dummy ticket keys, as the agent gives render
//     its keys; "# test: access-log-format json" and "# test:
//     haproxy-metrics-address :8405" render with those flags);
//   - status.yaml: the status of every object;
//   - ir.yaml: the render/ir.Config templates turned into those files, as
//     YAML (fields in alphabetical order, fields at their zero value left
//     out, PEM files by path with a description of their content instead
//     of the PEM), so that a diff shows whether render or templates
//     changed;
//   - warnings.txt, when rendering warned.
//
// The comment at the top of in.yaml says in prose what the case expects,
// and "# expect:" lines (anywhere in in.yaml, one assertion a line) say it
// in a form the test verifies against the rendered files. Every case has
// at least one; a line starting "# expect" that does not parse fails the
// test. The forms:
//
//	# expect: <file> contains "<text>"
//	# expect: <file> contains "<text>" <N> times
//	# expect: <file> lacks "<text>"
//	# expect: <file> exists
//	# expect: <file> absent
//	# expect: condition <object> [<part>] <Type>=<Status> [<Reason>] [message contains "<text>"]
//	# expect: no condition <object> [<part>] <Type>
//	# expect: no status <object> [parent ... | ancestor ...]
//	# expect: attachedRoutes <object> listener <name> = <N>
//	# expect: supportedKinds <object> listener <name> = [<Kind>, ...]
//
// where
//
//   - <file> is a path under out/: haproxy.cfg, crt-lists/https-443.crt-list,
//     maps/..., status.yaml, ir.yaml, pem-files.txt, warnings.txt;
//   - "<text>" is a Go-quoted string ("say \"hi\"", "\n" for a newline),
//     found as is; "<N> times" counts non-overlapping occurrences;
//   - <object> is "<Kind> <namespace>/<name>", or "GatewayClass <name>";
//   - <part> narrows the object to one entry of its status: "listener
//     <name>" (a Gateway's status.listeners), "parent [<ns>/]<gateway>
//     [section <s>] [port <n>]" (a route's status.parents) or "ancestor
//     [<ns>/]<gateway>" (a policy's status.ancestors). A parent or ancestor
//     is matched on its whole reference: name, namespace (the object's own
//     when not written), and the sectionName and port the reference has;
//   - <Status> is True, False or Unknown; the reason and the message text
//     are checked when given.
//
// For example:
//
//	# expect: crt-lists/https-443.crt-list contains "foo.example.com"
//	# expect: haproxy.cfg contains "\n    server " 2 times
//	# expect: haproxy.cfg lacks "verifyhost"
//	# expect: condition Gateway default/gw listener https ResolvedRefs=False InvalidCertificateRef
//	# expect: condition HTTPRoute default/r parent gw Accepted=True
//	# expect: condition HTTPRoute default/r parent gw section http port 8080 Accepted=False NoMatchingParent
//	# expect: condition BackendTLSPolicy default/p ancestor gw Accepted=False NoValidCACertificate
//	# expect: no status HTTPRoute default/theirs
//	# expect: attachedRoutes Gateway default/gw listener http = 1
//
// The assertions are parsed and checked in expect_test.go.
package pipeline

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"hagate.io/hagate/controller/files"
	"hagate.io/hagate/haproxy/bundle"
	"hagate.io/hagate/internal/testutil/haproxytest"
	"hagate.io/hagate/internal/testutil/pki"
	"hagate.io/hagate/render"
	"hagate.io/hagate/render/ir"
	"hagate.io/hagate/render/snapshot"
	"hagate.io/hagate/templates"
)

// update rewrites the golden files: go test ./controller/pipeline -run Golden -update
// (or make golden).
var update = flag.Bool("update", os.Getenv("HAGATE_UPDATE_GOLDEN") != "", "rewrite golden files under testdata/")

// goldenRoot is the --config-root of golden outputs.
const goldenRoot = "/etc/hagate"

// goldenNow is the instant golden snapshots stand for.
var goldenNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// Test-only annotations of Secrets in golden inputs: the harness fills
// tls.crt and tls.key (only the keys present in data) with a certificate
// generated for the test, so that no key is ever committed.
const (
	annCert     = "test.hagate.io/cert"            // comma-separated DNS names
	annNotAfter = "test.hagate.io/cert-not-after"  // RFC 3339
	annKey      = "test.hagate.io/cert-key"        // "mismatch": a key of another pair; "rsa": RSA 2048 (default ECDSA P-256); "rsa1024": a weak RSA key
	annSig      = "test.hagate.io/cert-signature"  // "sha1": signed with ECDSA-SHA1
	annMore     = "test.hagate.io/cert-more-names" // "N:pattern": N more DNS names, pattern with %d (1..N)
	// annCRL on a ConfigMap fills ca.crt with a fixed Ed25519 CA (signatures
	// are deterministic: the golden files stay the same) and ca.crl with
	// its CRL revoking the serial numbers listed (comma-separated; "" for
	// none); "foreign": a CRL signed by another CA.
	annCRL = "test.hagate.io/ca-crl"
)

func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/*/in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no golden cases under testdata/")
	}
	ca := pki.NewCAValid(t, "hagate test CA", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC))
	assertions := 0
	for _, in := range dirs {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			snap := loadGoldenInput(t, in, ca)
			opts := goldenOptions(t, in)
			opts.ConfigRoot, opts.StatusReport = goldenRoot, true
			o, err := Render(snap, opts)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			b, warnings := o.WithStatus(), o.Warnings
			want := goldenFiles(t, b, warnings)
			want[irFile] = goldenIR(t, snap, o, opts)
			compareGolden(t, filepath.Join(dir, "out"), want)
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			assertions += checkExpectations(t, in, data, want)

			// The same input, rendered for a real folder, passes haproxy -c.
			tmp := t.TempDir()
			opts2 := opts
			opts2.ConfigRoot = tmp
			o2, err := Render(snap, opts2)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			b2 := o2.Bundle
			if err := b2.WriteTree(tmp); err != nil {
				t.Fatal(err)
			}
			haproxytest.Check(t, filepath.Join(tmp, bundle.ConfigFile))

			// Byte-identical output for the same input.
			o3, err := Render(snap, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !o3.WithStatus().Equal(b) {
				t.Error("two renders of the same input differ")
			}
		})
	}
	t.Logf("%d cases, %d assertions", len(dirs), assertions)
}

// irFile is the IR of a case under out/.
const irFile = "ir.yaml"

// goldenIR is the render/ir.Config of a case as YAML: what Render gave
// templates. PEM files are projected to their path, origin and a
// description of their content (as in pem-files.txt); every other field
// is as the IR holds it, zero values left out, keys sorted.
func goldenIR(t *testing.T, snap *snapshot.Snapshot, o *Output, opts Options) []byte {
	t.Helper()
	// Render's IR, with the options Render passes (the golden test sets
	// ConfigRoot and the case's "# test:" options): templates must turn it
	// into the very Bundle Render returned, or ir.yaml is not this case's
	// IR.
	res := render.Translate(snap, render.Options{RuleNames: opts.AccessLogFormat.JSON()})
	tout, err := templates.Render(res.Config, templates.Options{ConfigRoot: goldenRoot, AccessLogFormat: opts.AccessLogFormat, MetricsAddress: opts.MetricsAddress})
	if err != nil {
		t.Fatalf("templates: %v", err)
	}
	if !tout.Bundle.Equal(o.Bundle) {
		t.Fatal("the IR of render.Translate does not give the Bundle of Render: ir.yaml would not be this case's IR")
	}
	j, err := json.Marshal(res.Config)
	if err != nil {
		t.Fatal(err)
	}
	var tree map[string]any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		t.Fatal(err)
	}
	var pems [][]byte
	describe := func(list string, i int, content []byte) {
		items, _ := tree[list].([]any)
		item, _ := items[i].(map[string]any)
		if item == nil {
			t.Fatalf("ir.yaml: %s[%d] is not an object", list, i)
		}
		delete(item, "PEM")
		d, err := pki.Describe(content)
		if err != nil {
			t.Fatalf("ir.yaml: %s[%d]: %v", list, i, err)
		}
		item["Content"] = strings.Split(d, "\n")
		pems = append(pems, content)
	}
	for i, c := range res.Config.Certificates {
		describe("Certificates", i, c.PEM)
	}
	for i, c := range res.Config.CAFiles {
		describe("CAFiles", i, c.PEM)
	}
	projectTicketKeys(tree, res.Config)
	out, err := yaml.Marshal(pruneZero(tree))
	if err != nil {
		t.Fatal(err)
	}
	noTicketKeys(t, "ir.yaml", out, res.Config)
	// No PEM, in text or in base64 (how JSON writes bytes), may remain.
	for _, p := range pems {
		needles := []string{base64.StdEncoding.EncodeToString(p)}
		for rest := p; ; {
			var blk *pem.Block
			if blk, rest = pem.Decode(rest); blk == nil {
				break
			}
			needles = append(needles, string(pem.EncodeToMemory(blk)), base64.StdEncoding.EncodeToString(blk.Bytes))
		}
		for _, n := range needles {
			if len(n) > 48 {
				n = n[:48]
			}
			if n != "" && bytes.Contains(out, []byte(n)) {
				t.Fatalf("ir.yaml holds PEM content (%q...)", n)
			}
		}
	}
	if bytes.Contains(out, []byte("PRIVATE KEY")) {
		t.Fatal("ir.yaml holds a private key")
	}
	return out
}

// pruneZero drops the object fields whose value is null, "", false, 0, or
// an empty list or object (once pruned); list items are kept, so indexes
// and counts stay.
func pruneZero(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			e = pruneZero(e)
			if isZero(e) {
				delete(x, k)
			} else {
				x[k] = e
			}
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = pruneZero(e)
		}
		return x
	}
	return v
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case json.Number:
		f, err := x.Float64()
		return err == nil && f == 0
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// loadGoldenInput loads in.yaml and fills the annotated test certificates.
func loadGoldenInput(t *testing.T, in string, ca *pki.CA) *snapshot.Snapshot {
	t.Helper()
	res, err := files.Load(files.Options{Paths: []string{in}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Errors {
		t.Fatalf("golden input: %v", e)
	}
	for _, s := range res.Snapshot.Secrets {
		fillTestCertificate(t, s, ca)
	}
	for _, cm := range res.Snapshot.ConfigMaps {
		fillTestCRL(t, cm)
	}
	res.Snapshot.Now = goldenNow
	res.Snapshot.TLSTicketKeys = goldenTicketKeys(t, in)
	return res.Snapshot
}

func fillTestCertificate(t *testing.T, s *corev1.Secret, ca *pki.CA) {
	names := s.Annotations[annCert]
	if names == "" {
		return
	}
	opts := pki.LeafOptions{
		DNSNames:  strings.Split(names, ","),
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:  time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	if more := s.Annotations[annMore]; more != "" {
		n, pattern, ok := strings.Cut(more, ":")
		count, err := strconv.Atoi(n)
		if !ok || err != nil {
			t.Fatalf("Secret %s/%s: %s %q is not N:pattern", s.Namespace, s.Name, annMore, more)
		}
		for i := 1; i <= count; i++ {
			opts.DNSNames = append(opts.DNSNames, fmt.Sprintf(pattern, i))
		}
	}
	switch s.Annotations[annKey] {
	case "rsa1024":
		opts.RSABits = 1024
	case "rsa":
		opts.RSA = true
	}
	if s.Annotations[annSig] == "sha1" {
		opts.SignatureAlgorithm = x509.ECDSAWithSHA1
	}
	if na := s.Annotations[annNotAfter]; na != "" {
		tm, err := time.Parse(time.RFC3339, na)
		if err != nil {
			t.Fatalf("Secret %s/%s: %s: %v", s.Namespace, s.Name, annNotAfter, err)
		}
		opts.NotAfter = tm
		opts.NotBefore = tm.AddDate(-1, 0, 0)
	}
	leaf := ca.Issue(t, opts)
	key := leaf.KeyPEM
	if s.Annotations[annKey] == "mismatch" {
		key = ca.Issue(t, opts).KeyPEM
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	if _, ok := s.Data[corev1.TLSCertKey]; ok {
		s.Data[corev1.TLSCertKey] = leaf.CertPEM
	}
	if _, ok := s.Data[corev1.TLSPrivateKeyKey]; ok {
		s.Data[corev1.TLSPrivateKeyKey] = key
	}
}

// goldenFiles is what a case's out/ holds: every file of the Bundle, except
// that PEM files (key material, CA bundles) are described in pem-files.txt
// rather than copied, and warnings.txt when there are warnings.
func goldenFiles(t *testing.T, b *bundle.Bundle, warnings []string) map[string][]byte {
	out := map[string][]byte{}
	var pems bytes.Buffer
	for _, f := range b.Files() {
		if d, ok := describeTicketKeys(f); ok {
			pems.WriteString(d)
			continue
		}
		// PEM files (keys, and CA bundles alike) are described, not
		// copied: no PEM is committed under an out/ folder.
		if !f.Secret() && !strings.HasSuffix(f.Path, ".pem") {
			out[f.Path] = f.Content
			continue
		}
		d, err := pki.Describe(f.Content)
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		fmt.Fprintf(&pems, "%s (mode %04o)\n", f.Path, f.Mode)
		for _, line := range strings.Split(d, "\n") {
			fmt.Fprintf(&pems, "  %s\n", line)
		}
	}
	if pems.Len() > 0 {
		out["pem-files.txt"] = pems.Bytes()
	}
	if len(warnings) > 0 {
		out["warnings.txt"] = []byte(strings.Join(warnings, "\n") + "\n")
	}
	return out
}

func compareGolden(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	have := map[string]bool{}
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			have[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if *update {
		for p := range have {
			if _, ok := want[p]; !ok {
				if err := os.Remove(filepath.Join(dir, p)); err != nil {
					t.Fatal(err)
				}
			}
		}
		for p, c := range want {
			full := filepath.Join(dir, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, c, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		removeEmptyDirs(dir)
		return
	}
	var names []string
	for p := range want {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			t.Errorf("%s: missing golden file (run make golden): %v", p, err)
			continue
		}
		if !bytes.Equal(got, want[p]) {
			t.Errorf("%s differs from the golden file (run make golden and review the diff):\n--- golden\n%s\n--- rendered\n%s", p, got, want[p])
		}
	}
	for p := range have {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: stale golden file (run make golden)", p)
		}
	}
}

func removeEmptyDirs(dir string) {
	var dirs []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		_ = os.Remove(d) // only succeeds when empty
	}
}

// fillTestCRL fills an annCRL ConfigMap (see annCRL).
func fillTestCRL(t *testing.T, cm *corev1.ConfigMap) {
	spec, ok := cm.Annotations[annCRL]
	if !ok {
		return
	}
	ca := func(seed byte, cn string) (*x509.Certificate, ed25519.PrivateKey, []byte) {
		key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(seed)), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
		der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	cert, key, certPEM := ca(1, "golden CRL CA")
	signer, signKey := cert, key
	if spec == "foreign" {
		signer, signKey, _ = ca(2, "golden other CA")
		spec = ""
	}
	rl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), NextUpdate: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)}
	for _, s := range strings.Split(spec, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, ok := new(big.Int).SetString(s, 10)
		if !ok {
			t.Fatalf("ConfigMap %s/%s: %s %q: want serial numbers", cm.Namespace, cm.Name, annCRL, s)
		}
		rl.RevokedCertificateEntries = append(rl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: rl.ThisUpdate})
	}
	der, err := x509.CreateRevocationList(nil, rl, signer, signKey)
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data["ca.crt"] = string(certPEM)
	cm.Data["ca.crl"] = string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
}

// accessLogFormatOption and metricsAddressOption in a golden input render
// it with that --access-log-format ("# test: access-log-format json") and
// --haproxy-metrics-address ("# test: haproxy-metrics-address :8405").
const (
	accessLogFormatOption = "# test: access-log-format "
	metricsAddressOption  = "# test: haproxy-metrics-address "
)

// goldenOptions are the options a golden input asks for with "# test:"
// lines.
func goldenOptions(t *testing.T, in string) Options {
	t.Helper()
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	var o Options
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, accessLogFormatOption); ok {
			if o.AccessLogFormat, err = ir.ParseAccessLogFormat(v); err != nil {
				t.Fatalf("%s: %v", in, err)
			}
		}
		if v, ok := strings.CutPrefix(line, metricsAddressOption); ok {
			o.MetricsAddress = v
		}
	}
	return o
}
