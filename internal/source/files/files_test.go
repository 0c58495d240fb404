package files

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"hagate.io/hagate/internal/snapshot"
)

const (
	gateway = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  gatewayClassName: hagate
  listeners:
  - name: http
    port: 80
    protocol: HTTP
`
	route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  namespace: apps
spec:
  parentRefs:
  - name: gw
    namespace: default
`
)

// service returns a Service document.
func service(name string) string {
	return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\nspec:\n  ports:\n  - port: 80\n"
}

// objects lists the snapshot's objects as "Kind namespace/name", slice by
// slice, each slice in its order.
func objects(s *snapshot.Snapshot) []string {
	var out []string
	add := func(kind, ns, name string) { out = append(out, kind+" "+ns+"/"+name) }
	for _, o := range s.GatewayClasses {
		add("GatewayClass", o.Namespace, o.Name)
	}
	for _, o := range s.Gateways {
		add("Gateway", o.Namespace, o.Name)
	}
	for _, o := range s.HTTPRoutes {
		add("HTTPRoute", o.Namespace, o.Name)
	}
	for _, o := range s.GRPCRoutes {
		add("GRPCRoute", o.Namespace, o.Name)
	}
	for _, o := range s.TLSRoutes {
		add("TLSRoute", o.Namespace, o.Name)
	}
	for _, o := range s.BackendTLSPolicies {
		add("BackendTLSPolicy", o.Namespace, o.Name)
	}
	for _, o := range s.ReferenceGrants {
		add("ReferenceGrant", o.Namespace, o.Name)
	}
	for _, o := range s.Secrets {
		add("Secret", o.Namespace, o.Name)
	}
	for _, o := range s.ConfigMaps {
		add("ConfigMap", o.Namespace, o.Name)
	}
	for _, o := range s.Services {
		add("Service", o.Namespace, o.Name)
	}
	for _, o := range s.EndpointSlices {
		add("EndpointSlice", o.Namespace, o.Name)
	}
	for _, o := range s.Namespaces {
		add("Namespace", o.Namespace, o.Name)
	}
	return out
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name string
		// files are written below a fresh working directory.
		files    map[string]string
		paths    []string
		stdin    string
		objects  []string
		errors   []string
		warnings []string
		// check, if set, looks closer at the result.
		check func(t *testing.T, res *Result)
	}{
		{
			name:    "file",
			files:   map[string]string{"a.yaml": gateway + "---\n" + route},
			paths:   []string{"a.yaml"},
			objects: []string{"Gateway default/gw", "HTTPRoute apps/web"},
			check: func(t *testing.T, res *Result) {
				want := map[string]string{
					"Gateway/default/gw": "a.yaml: document 1",
					"HTTPRoute/apps/web": "a.yaml: document 2",
				}
				if !maps.Equal(res.Origins, want) {
					t.Errorf("Origins = %v, want %v", res.Origins, want)
				}
			},
		},
		{
			name: "a file named directly is read whatever its extension",
			files: map[string]string{
				"gw.txt": gateway,
			},
			paths:   []string{"gw.txt"},
			objects: []string{"Gateway default/gw"},
		},
		{
			name: "directory, recursive, sorted, yaml and yml only",
			files: map[string]string{
				"dir/b.yaml":     service("b"),
				"dir/a.yml":      service("a"),
				"dir/a/z.yaml":   service("a-z"),
				"dir/sub/c.yaml": service("c"),
				"dir/notes.txt":  "not: [yaml",
				"dir/svc.json":   `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "json"}}`,
			},
			paths:   []string{"dir"},
			objects: []string{"Service default/a", "Service default/a-z", "Service default/b", "Service default/c"},
			check: func(t *testing.T, res *Result) {
				if got, want := res.Origins["Service/default/a-z"], filepath.Join("dir", "a", "z.yaml")+": document 1"; got != want {
					t.Errorf("origin of a-z = %q, want %q", got, want)
				}
			},
		},
		{
			name:     "empty directory",
			files:    map[string]string{"dir/README": "hello"},
			paths:    []string{"dir"},
			warnings: []string{"dir: no *.yaml or *.yml files in this directory."},
		},
		{
			name:    "stdin",
			paths:   []string{"-"},
			stdin:   gateway + "---\n" + "kind: Gateway\n",
			objects: []string{"Gateway default/gw"},
			errors:  []string{"<stdin>: document 2: apiVersion is missing"},
		},
		{
			name:    "paths in the order given",
			files:   map[string]string{"a.yaml": service("a"), "b.yaml": service("b")},
			paths:   []string{"b.yaml", "-", "a.yaml"},
			stdin:   service("stdin"),
			objects: []string{"Service default/b", "Service default/stdin", "Service default/a"},
		},
		{
			name: "repeated paths read each file once",
			files: map[string]string{
				"dir/a.yaml": service("a"),
				"dir/b.yaml": service("b"),
			},
			paths:   []string{"dir/b.yaml", "dir", "./dir/a.yaml", "-", "-"},
			stdin:   service("stdin"),
			objects: []string{"Service default/b", "Service default/a", "Service default/stdin"},
		},
		{
			name: "List",
			files: map[string]string{"list.yaml": `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web}
- apiVersion: v1
  kind: Service
  metadata: {name: b}
  spek: {}
- apiVersion: v1
  kind: Namespace
  metadata: {name: apps}
`},
			paths:    []string{"list.yaml"},
			objects:  []string{"Service default/a", "Namespace /apps"},
			errors:   []string{`list.yaml: document 1: items[2]: strict decoding error: unknown field "spek"`},
			warnings: []string{`list.yaml: document 1: items[1]: skipped apps/v1 Deployment "web": hagate does not read this kind.`},
			check: func(t *testing.T, res *Result) {
				if got, want := res.Origins["Namespace//apps"], "list.yaml: document 1: items[3]"; got != want {
					t.Errorf("origin = %q, want %q", got, want)
				}
			},
		},
		{
			name:  "List items that are no objects",
			files: map[string]string{"list.yaml": "apiVersion: v1\nkind: List\nitems:\n- 3\n- null\n- apiVersion: v1\n  kind: List\n  items: []\n"},
			paths: []string{"list.yaml"},
			errors: []string{
				"list.yaml: document 1: items[0]: not a mapping: an object needs apiVersion, kind and metadata",
				"list.yaml: document 1: items[2]: a List inside a List is not supported",
			},
		},
		{
			name: "v1beta1 decoded into v1 types",
			files: map[string]string{"old.yaml": `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata:
  name: allow
  namespace: certs
spec:
  from:
  - group: gateway.networking.k8s.io
    kind: Gateway
    namespace: default
  to:
  - group: ""
    kind: Secret
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: web
spec:
  hostnames: [www.example.com]
`},
			paths:   []string{"old.yaml"},
			objects: []string{"HTTPRoute default/web", "ReferenceGrant certs/allow"},
			check: func(t *testing.T, res *Result) {
				g := res.Snapshot.ReferenceGrants[0]
				if g.APIVersion != "gateway.networking.k8s.io/v1" || g.Kind != "ReferenceGrant" {
					t.Errorf("ReferenceGrant TypeMeta = %v", g.TypeMeta)
				}
				if len(g.Spec.From) != 1 || g.Spec.From[0].Namespace != "default" || len(g.Spec.To) != 1 || g.Spec.To[0].Kind != "Secret" {
					t.Errorf("ReferenceGrant spec = %+v", g.Spec)
				}
				r := res.Snapshot.HTTPRoutes[0]
				if r.APIVersion != "gateway.networking.k8s.io/v1" || r.Kind != "HTTPRoute" {
					t.Errorf("HTTPRoute TypeMeta = %v", r.TypeMeta)
				}
				if !slices.Equal(r.Spec.Hostnames, []gwapiv1.Hostname{"www.example.com"}) {
					t.Errorf("HTTPRoute hostnames = %v", r.Spec.Hostnames)
				}
			},
		},
		{
			name: "Secret stringData merged into data",
			files: map[string]string{"secret.yaml": `apiVersion: v1
kind: Secret
metadata:
  name: s
data:
  a: b2xk
  b: a2VlcA==
stringData:
  a: new
  c: added
`},
			paths:   []string{"secret.yaml"},
			objects: []string{"Secret default/s"},
			check: func(t *testing.T, res *Result) {
				s := res.Snapshot.Secrets[0]
				got := map[string]string{}
				for k, v := range s.Data {
					got[k] = string(v)
				}
				if want := map[string]string{"a": "new", "b": "keep", "c": "added"}; !maps.Equal(got, want) {
					t.Errorf("data = %v, want %v", got, want)
				}
				if s.StringData != nil {
					t.Errorf("stringData = %v, want nil", s.StringData)
				}
				if s.Type != corev1.SecretTypeOpaque {
					t.Errorf("type = %q, want Opaque", s.Type)
				}
			},
		},
		{
			name: "namespaces: default for namespaced kinds, none for cluster-scoped ones",
			files: map[string]string{"ns.yaml": gateway + `---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: hagate
  namespace: ignored
spec:
  controllerName: hagate.io/gateway-controller
---
apiVersion: v1
kind: Namespace
metadata:
  name: apps
  namespace: ignored
`},
			paths:   []string{"ns.yaml"},
			objects: []string{"GatewayClass /hagate", "Gateway default/gw", "Namespace /apps"},
			check: func(t *testing.T, res *Result) {
				for _, key := range []string{"Gateway/default/gw", "GatewayClass//hagate", "Namespace//apps"} {
					if _, ok := res.Origins[key]; !ok {
						t.Errorf("no origin for %s in %v", key, res.Origins)
					}
				}
			},
		},
		{
			name:  "empty documents skipped silently",
			files: map[string]string{"a.yaml": "# header\n---\n\n---\n# nothing\n---\n" + gateway + "---\n"},
			paths: []string{"a.yaml"},
			// The header is document 1, the blank one 2, the comment 3.
			objects: []string{"Gateway default/gw"},
			check: func(t *testing.T, res *Result) {
				if got, want := res.Origins["Gateway/default/gw"], "a.yaml: document 4"; got != want {
					t.Errorf("origin = %q, want %q", got, want)
				}
			},
		},
		{
			name:     "unknown kind",
			files:    map[string]string{"a.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n---\n" + gateway},
			paths:    []string{"a.yaml"},
			objects:  []string{"Gateway default/gw"},
			warnings: []string{`a.yaml: document 1: skipped apps/v1 Deployment "web": hagate does not read this kind.`},
		},
		{
			name:     "a Gateway API kind hagate does not read",
			files:    map[string]string{"a.yaml": "apiVersion: gateway.networking.k8s.io/v1\nkind: TCPRoute\nmetadata:\n  name: db\n"},
			paths:    []string{"a.yaml"},
			warnings: []string{`a.yaml: document 1: skipped gateway.networking.k8s.io/v1 TCPRoute "db": hagate does not read this kind.`},
		},
		{
			name:    "not YAML",
			files:   map[string]string{"a.yaml": service("a") + "---\nkind: Service\nmetadata: name: b\n---\n" + service("c")},
			paths:   []string{"a.yaml"},
			objects: []string{"Service default/a", "Service default/c"},
			errors:  []string{"a.yaml: document 2: error converting YAML to JSON: yaml: line 2: mapping values are not allowed in this context"},
		},
		{
			name:   "bad document separator",
			files:  map[string]string{"a.yaml": service("a") + "---x\n" + service("b")},
			paths:  []string{"a.yaml"},
			errors: []string{"a.yaml: document 1: invalid Yaml document separator: x"},
			// The reader goes on after the bad line.
			objects: []string{"Service default/b"},
		},
		{
			name:   "not a mapping",
			files:  map[string]string{"a.yaml": "- apiVersion: v1\n  kind: Service\n"},
			paths:  []string{"a.yaml"},
			errors: []string{"a.yaml: document 1: not a mapping: an object needs apiVersion, kind and metadata"},
		},
		{
			name:   "missing kind",
			files:  map[string]string{"a.yaml": "apiVersion: v1\nmetadata:\n  name: a\n"},
			paths:  []string{"a.yaml"},
			errors: []string{"a.yaml: document 1: kind is missing"},
		},
		{
			name:   "missing name",
			files:  map[string]string{"a.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: a\n"},
			paths:  []string{"a.yaml"},
			errors: []string{"a.yaml: document 1: metadata.name is missing"},
		},
		{
			name:   "apiVersion not a string",
			files:  map[string]string{"a.yaml": "apiVersion: 1\nkind: Service\n"},
			paths:  []string{"a.yaml"},
			errors: []string{"a.yaml: document 1: json: cannot unmarshal number into Go struct field TypeMeta.apiVersion of type string"},
		},
		{
			name:   "unknown field",
			files:  map[string]string{"a.yaml": strings.Replace(gateway, "    port: 80", "    prot: 80", 1)},
			paths:  []string{"a.yaml"},
			errors: []string{`a.yaml: document 1: strict decoding error: unknown field "spec.listeners[0].prot"`},
		},
		{
			name:   "field names are case-sensitive",
			files:  map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nMetadata:\n  name: a\n"},
			paths:  []string{"a.yaml"},
			errors: []string{`a.yaml: document 1: strict decoding error: unknown field "Metadata"`},
		},
		{
			name:   "duplicate key",
			files:  map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n"},
			paths:  []string{"a.yaml"},
			errors: []string{"a.yaml: document 1: error converting YAML to JSON: yaml: unmarshal errors:\n  line 5: key \"name\" already set in map"},
		},
		{
			name: "duplicate object",
			files: map[string]string{
				"a.yaml": gateway,
				"b.yaml": strings.Replace(gateway, "  name: gw\n", "  name: gw\n  namespace: default\n", 1),
			},
			paths:   []string{"a.yaml", "b.yaml"},
			objects: []string{"Gateway default/gw"},
			errors:  []string{"b.yaml: document 1: duplicate Gateway default/gw, first defined in a.yaml: document 1"},
		},
		{
			name:  "same name, different kind or namespace",
			files: map[string]string{"a.yaml": service("gw") + "---\n" + gateway + "---\n" + strings.Replace(gateway, "  name: gw\n", "  name: gw\n  namespace: other\n", 1)},
			paths: []string{"a.yaml"},
			objects: []string{
				"Gateway default/gw", "Gateway other/gw", "Service default/gw",
			},
		},
		{
			name:   "bad base64",
			files:  map[string]string{"a.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  tls.crt: not*base64\n"},
			paths:  []string{"a.yaml"},
			errors: []string{"a.yaml: document 1: illegal base64 data at input byte 3"},
		},
		{
			name:   "unsupported apiVersion",
			files:  map[string]string{"a.yaml": strings.Replace(gateway, "/v1\n", "/v2\n", 1)},
			paths:  []string{"a.yaml"},
			errors: []string{"a.yaml: document 1: unsupported apiVersion gateway.networking.k8s.io/v2 for Gateway (supported: gateway.networking.k8s.io/v1, gateway.networking.k8s.io/v1beta1)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				path := filepath.Join(dir, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Chdir(dir)

			res, err := Load(Options{Paths: tt.paths, Stdin: strings.NewReader(tt.stdin)})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := objects(res.Snapshot); !slices.Equal(got, tt.objects) {
				t.Errorf("objects:\n got %q\nwant %q", got, tt.objects)
			}
			var errs []string
			for _, e := range res.Errors {
				errs = append(errs, e.Error())
			}
			if !slices.Equal(errs, tt.errors) {
				t.Errorf("errors:\n got %q\nwant %q", errs, tt.errors)
			}
			if !slices.Equal(res.Warnings, tt.warnings) {
				t.Errorf("warnings:\n got %q\nwant %q", res.Warnings, tt.warnings)
			}
			if tt.check != nil {
				tt.check(t, res)
			}
		})
	}
}

func TestLoadUnreadablePath(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		opts  Options
		isErr error
	}{
		{name: "missing file", opts: Options{Paths: []string{filepath.Join(dir, "missing.yaml")}}, isErr: fs.ErrNotExist},
		{name: "stdin without a reader", opts: Options{Paths: []string{"-"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Load(tt.opts)
			if err == nil {
				t.Fatalf("Load = %+v, want an error", res)
			}
			if tt.isErr != nil && !errors.Is(err, tt.isErr) {
				t.Errorf("error %v is not %v", err, tt.isErr)
			}
			var de *DocError
			if errors.As(err, &de) {
				t.Errorf("error %v is a DocError", err)
			}
		})
	}
}

func TestDocErrorUnwrap(t *testing.T) {
	inner := errors.New("inner")
	err := error(&DocError{File: "a.yaml", Doc: 2, Err: inner})
	if !errors.Is(err, inner) {
		t.Errorf("errors.Is(%v, inner) = false", err)
	}
	if got, want := err.Error(), "a.yaml: document 2: inner"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
