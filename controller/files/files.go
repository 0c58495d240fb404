// Package files is the file source: it reads plain Kubernetes YAML, the
// files `kubectl apply -f` accepts, into a snapshot.Snapshot. It owns
// splitting files into documents, strict decoding into the typed objects
// hagate reads, and telling which file and document each problem is in.
package files

import (
	"bytes"
	gojson "encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"hagate.io/hagate/render/snapshot"
)

// stdinName stands for Stdin in messages.
const stdinName = "<stdin>"

// Options says what to load.
type Options struct {
	// Paths are files, directories (every *.yaml / *.yml below it,
	// recursively, in sorted path order) or "-" for Stdin, read in the
	// order given. A file named twice, directly or through a directory, is
	// read once, where it is first named.
	Paths []string
	// Stdin is read when a path is "-".
	Stdin io.Reader
	// MaxFileBytes is the most one file (or Stdin) may hold; a larger one
	// is an error. Zero means DefaultMaxFileBytes.
	MaxFileBytes int64
	// MaxTotalBytes is the most read from all paths together; a file that
	// would take the total past it is an error. Zero means
	// DefaultMaxTotalBytes.
	MaxTotalBytes int64
}

// Result is what Load found.
type Result struct {
	// Snapshot holds every object read without error, in input order.
	// Now is left zero: the caller sets it.
	Snapshot *snapshot.Snapshot
	// Warnings are sentences about input that was skipped but is not an
	// error, such as a kind hagate does not read (a Deployment, say).
	Warnings []string
	// Errors are per-document problems: each names the file and the
	// document. The documents without errors are still in Snapshot.
	Errors []*DocError
	// Origins maps "Kind/namespace/name" (namespace empty for
	// cluster-scoped kinds) of every object in Snapshot to where it was
	// read, "file: document N", for messages.
	Origins map[string]string
}

// DocError is a problem with one document of one file.
type DocError struct {
	// File is the path the document was read from, or "<stdin>".
	File string
	// Doc is the 1-based index of the document in the file.
	Doc int
	// Err is the problem. For an item of a List it starts with the item,
	// "items[2]: ...".
	Err error
}

// Error says where the problem is and what it is, e.g.
// "manifests/gw.yaml: document 2: kind is missing".
func (e *DocError) Error() string {
	return fmt.Sprintf("%s: document %d: %v", e.File, e.Doc, e.Err)
}

// Unwrap returns Err.
func (e *DocError) Unwrap() error { return e.Err }

// Load reads every path. It returns an error (not a DocError) only when a
// path cannot be read at all: a missing file, no permission, a file that
// is not a regular file (a named pipe, a device, a dangling symbolic link)
// or one over MaxFileBytes or MaxTotalBytes. Each such error names the
// file. Problems inside documents are in Result.Errors.
func Load(opts Options) (*Result, error) {
	l := newLoader()
	rd := newReader(opts.MaxFileBytes, opts.MaxTotalBytes)
	// Files are read and split here, one after the other, while their
	// documents are decoded on every core; then the documents are added
	// in input order.
	dec := startDecoders()
	defer dec.wait()
	var units []unit
	for _, p := range opts.Paths {
		if p == "-" {
			if l.read[p] {
				continue
			}
			l.read[p] = true
			if opts.Stdin == nil {
				return nil, errors.New(`read "-": no standard input to read`)
			}
			data, err := rd.from(stdinName, opts.Stdin)
			if err != nil {
				return nil, err
			}
			units = append(units, unit{docs: dec.decode(splitFile(stdinName, data))})
			continue
		}
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			units = append(units, unit{warning: fmt.Sprintf("%s: no *.yaml or *.yml files in this directory.", p)})
		}
		for _, f := range files {
			if key := filepath.Clean(f); !l.read[key] {
				l.read[key] = true
				data, err := rd.file(f)
				if err != nil {
					return nil, err
				}
				units = append(units, unit{docs: dec.decode(splitFile(f, data))})
			}
		}
	}
	dec.wait()
	for _, u := range units {
		if u.docs == nil {
			l.res.Warnings = append(l.res.Warnings, u.warning)
			continue
		}
		l.add(u.docs)
	}
	return l.res, nil
}

// unit is what one path gives, in input order: the documents of a file,
// or a warning.
type unit struct {
	docs    []*document
	warning string
}

// expand returns path itself when it is a file, and every *.yaml and *.yml
// file below it, sorted, when it is a directory.
func expand(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, statError(path, err)
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	// WalkDir does not follow symbolic links, the root included: a
	// trailing separator makes a root that is a link to a folder resolve
	// to it. The paths found keep path as their prefix.
	err = filepath.WalkDir(path+string(filepath.Separator), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// Kubernetes writes a mounted ConfigMap or Secret as "..<time>/"
		// folders and a "..data" link, with each key a link into it:
		// reading those too would read every manifest twice.
		if p != path+string(filepath.Separator) && strings.HasPrefix(d.Name(), "..") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(p); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, p)
		}
		return nil
	})
	slices.Sort(files)
	return files, err
}

// loader accumulates a Result.
type loader struct {
	res *Result
	// read holds the cleaned paths already read ("-" for Stdin).
	read map[string]bool
}

// newLoader returns a loader with an empty Result.
func newLoader() *loader {
	return &loader{
		res:  &Result{Snapshot: &snapshot.Snapshot{}, Origins: map[string]string{}},
		read: map[string]bool{},
	}
}

// location is where an object was read: a document of a file and, for an
// item of a List, its index (-1 otherwise).
type location struct {
	file string
	doc  int
	item int
}

// String is "file: document N", with ": items[K]" for an item of a List.
func (at location) String() string {
	s := fmt.Sprintf("%s: document %d", at.file, at.doc)
	if at.item >= 0 {
		s += fmt.Sprintf(": items[%d]", at.item)
	}
	return s
}

// failure is a DocError at at.
func failure(at location, err error) outcome {
	if at.item >= 0 {
		err = fmt.Errorf("items[%d]: %w", at.item, err)
	}
	return outcome{err: &DocError{File: at.file, Doc: at.doc, Err: err}}
}

// warning is a warning sentence about at.
func warning(at location, format string, args ...any) outcome {
	return outcome{warning: at.String() + ": " + fmt.Sprintf(format, args...)}
}

// loadFile splits data into YAML documents and loads each. It returns how
// many documents were not empty (an empty one holds only blanks and
// comments); a document with an error counts as not empty.
func (l *loader) loadFile(file string, data []byte) (docs int) {
	ds := splitFile(file, data)
	decodeAll(ds)
	return l.add(ds)
}

// document is one document of a file: split off, then decoded.
type document struct {
	at location
	// raw is the document's YAML, or err why it could not be split off
	// (a bad "---" line).
	raw []byte
	err error
	// Set by decode: counts is whether the document is not empty (or has
	// an error), outs what it gives the Result, in order.
	counts bool
	outs   []outcome
}

// outcome is one thing a document gives the Result: an error, a warning
// or an object.
type outcome struct {
	err     *DocError
	warning string
	// obj, of kind kind, read at at, is added to the Snapshot by add
	// unless an earlier document defines it.
	obj  object
	kind string
	at   location
	add  func(*snapshot.Snapshot)
}

// splitFile splits data, read from file, into YAML documents.
func splitFile(file string, data []byte) []*document {
	raws, errs := splitYAML(data)
	ds := make([]*document, len(raws))
	for i, raw := range raws {
		// A bad "---" line is an error; the reader goes on after it.
		ds[i] = &document{at: location{file: file, doc: i + 1, item: -1}, raw: raw, err: errs[i]}
	}
	return ds
}

// decoders decode documents on as many cores as Go may use: decoding is
// most of the time Load takes.
type decoders struct {
	docs chan *document
	wg   sync.WaitGroup
	done bool
}

// startDecoders starts the decoding goroutines.
func startDecoders() *decoders {
	d := &decoders{docs: make(chan *document, 1024)}
	for range runtime.GOMAXPROCS(0) {
		d.wg.Go(func() {
			var p fastParser
			for doc := range d.docs {
				doc.decode(&p)
			}
		})
	}
	return d
}

// decode has ds decoded and returns it; the documents are decoded once
// wait returns.
func (d *decoders) decode(ds []*document) []*document {
	for _, doc := range ds {
		d.docs <- doc
	}
	return ds
}

// wait waits until every document given is decoded, and stops the
// goroutines. It may be called again.
func (d *decoders) wait() {
	if !d.done {
		d.done = true
		close(d.docs)
	}
	d.wg.Wait()
}

// decodeAll decodes every document.
func decodeAll(ds []*document) {
	if len(ds) <= 1 || runtime.GOMAXPROCS(0) == 1 {
		var p fastParser
		for _, d := range ds {
			d.decode(&p)
		}
		return
	}
	dec := startDecoders()
	dec.decode(ds)
	dec.wait()
}

// decode converts the document to JSON, with p unless the document is not
// in the fast path's subset, and decodes it. It reads and writes nothing
// but d and p, so documents decode in parallel.
func (d *document) decode(p *fastParser) {
	if d.err != nil {
		d.counts = true
		d.outs = append(d.outs, failure(d.at, d.err))
		return
	}
	js, t, ok := p.convert(d.raw)
	if !ok {
		var err error
		if js, err = yaml.YAMLToJSONStrict(d.raw); err != nil {
			d.counts = true
			d.outs = append(d.outs, failure(d.at, fmt.Errorf("error converting YAML to JSON: %w", err)))
			return
		}
	}
	d.counts = !emptyJSON(js)
	var h *metav1.TypeMeta
	if ok && t.known {
		h = &metav1.TypeMeta{APIVersion: t.apiVersion, Kind: t.kind}
	}
	d.outs = decodeJSON(d.at, js, h, d.outs)
}

// add adds what the documents gave to the Result, in order, and returns
// how many documents count (see loadFile).
func (l *loader) add(ds []*document) (docs int) {
	for _, d := range ds {
		if d.counts {
			docs++
		}
		for _, o := range d.outs {
			switch {
			case o.err != nil:
				l.res.Errors = append(l.res.Errors, o.err)
			case o.obj == nil:
				l.res.Warnings = append(l.res.Warnings, o.warning)
			default:
				l.addObject(o)
			}
		}
	}
	return docs
}

// addObject adds a decoded object to the Snapshot, unless an earlier
// document defines it.
func (l *loader) addObject(o outcome) {
	obj := o.obj
	key := o.kind + "/" + obj.GetNamespace() + "/" + obj.GetName()
	if first, dup := l.res.Origins[key]; dup {
		name := obj.GetName()
		if ns := obj.GetNamespace(); ns != "" {
			name = ns + "/" + name
		}
		f := failure(o.at, fmt.Errorf("duplicate %s %s, first defined in %s", o.kind, name, first))
		l.res.Errors = append(l.res.Errors, f.err)
		return
	}
	o.add(l.res.Snapshot)
	l.res.Origins[key] = o.at.String()
}

// emptyJSON reports whether js, a document converted to JSON, is empty:
// the document held only blanks and comments.
func emptyJSON(js []byte) bool {
	js = bytes.TrimSpace(js)
	return len(js) == 0 || string(js) == "null"
}

// list is a v1 List.
type list struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ListMeta     `json:"metadata"`
	Items           []gojson.RawMessage `json:"items"`
}

// decodeJSON decodes one document, or one item of a List, converted to
// JSON, and appends what it gives to outs. known, when not nil, is its
// apiVersion and kind, as decoding js into a metav1.TypeMeta gives them.
func decodeJSON(at location, js []byte, known *metav1.TypeMeta, outs []outcome) []outcome {
	if emptyJSON(js) {
		return outs // an empty document: only comments and blanks
	}
	js = bytes.TrimSpace(js)
	if js[0] != '{' {
		return append(outs, failure(at, errors.New("not a mapping: an object needs apiVersion, kind and metadata")))
	}
	var h metav1.TypeMeta
	if known != nil {
		h = *known
	} else if err := json.UnmarshalCaseSensitivePreserveInts(js, &h); err != nil {
		return append(outs, failure(at, err))
	}
	switch {
	case h.APIVersion == "":
		return append(outs, failure(at, errors.New("apiVersion is missing")))
	case h.Kind == "":
		return append(outs, failure(at, errors.New("kind is missing")))
	case h.APIVersion == "v1" && h.Kind == "List":
		if at.item >= 0 {
			return append(outs, failure(at, errors.New("a List inside a List is not supported")))
		}
		var ls list
		if err := unmarshalStrict(js, &ls); err != nil {
			return append(outs, failure(at, err))
		}
		for i, item := range ls.Items {
			at.item = i
			outs = decodeJSON(at, item, nil, outs)
		}
		return outs
	}
	group, version, ok := strings.Cut(h.APIVersion, "/")
	if !ok {
		group, version = "", h.APIVersion
	}
	k, ok := kinds[h.Kind]
	if !ok || k.group != group {
		var meta metav1.PartialObjectMetadata
		_ = json.UnmarshalCaseSensitivePreserveInts(js, &meta) // best effort: the name is only for the warning
		return append(outs, warning(at, "skipped %s %s %q: hagate does not read this kind.", h.APIVersion, h.Kind, meta.Name))
	}
	if !slices.Contains(k.versions, version) {
		return append(outs, failure(at, fmt.Errorf("unsupported apiVersion %s for %s (supported: %s)", h.APIVersion, h.Kind, k.apiVersions())))
	}
	obj, add, err := k.decode(js)
	if err != nil {
		return append(outs, failure(at, err))
	}
	switch {
	case k.clusterScoped:
		obj.SetNamespace("") // as kubectl does
	case obj.GetNamespace() == "":
		obj.SetNamespace(metav1.NamespaceDefault)
	}
	if obj.GetName() == "" {
		return append(outs, failure(at, errors.New("metadata.name is missing")))
	}
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{Group: k.group, Version: k.versions[0], Kind: h.Kind})
	if s, ok := obj.(*corev1.Secret); ok {
		mergeStringData(s)
	}
	return append(outs, outcome{obj: obj, kind: h.Kind, at: at, add: add})
}

// mergeStringData moves stringData into data, stringData winning, as the
// API server does, and defaults the type to Opaque.
func mergeStringData(s *corev1.Secret) {
	if len(s.StringData) > 0 && s.Data == nil {
		s.Data = make(map[string][]byte, len(s.StringData))
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
}

// unmarshalStrict decodes js into v as the API server does with
// fieldValidation=Strict: field names are case-sensitive, and unknown or
// duplicate fields are errors.
func unmarshalStrict(js []byte, v any) error {
	strict, err := json.UnmarshalStrict(js, v)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("strict decoding error: %s", strings.Join(msgs, ", "))
	}
	return nil
}

// object is what every kind hagate reads is: a typed Kubernetes object.
type object interface {
	metav1.Object
	GetObjectKind() schema.ObjectKind
}

// kind is how to read one kind.
type kind struct {
	// group is the API group; "" for the core group.
	group string
	// versions are the versions accepted; the first is the one the decoded
	// object is labelled with.
	versions []string
	// clusterScoped kinds have no namespace.
	clusterScoped bool
	// decode strictly decodes an object and returns it with a function that
	// adds it to a Snapshot.
	decode func(js []byte) (object, func(*snapshot.Snapshot), error)
}

// apiVersions lists the accepted apiVersions for messages.
func (k kind) apiVersions() string {
	vs := make([]string, len(k.versions))
	for i, v := range k.versions {
		vs[i] = schema.GroupVersion{Group: k.group, Version: v}.String()
	}
	return strings.Join(vs, ", ")
}

// typed returns a kind.decode for type T; slice picks the Snapshot slice
// the object is appended to.
func typed[T any, P interface {
	*T
	object
}](slice func(*snapshot.Snapshot) *[]P) func([]byte) (object, func(*snapshot.Snapshot), error) {
	return func(js []byte) (object, func(*snapshot.Snapshot), error) {
		obj := P(new(T))
		if err := unmarshalStrict(js, obj); err != nil {
			return nil, nil, err
		}
		return obj, func(s *snapshot.Snapshot) { *slice(s) = append(*slice(s), obj) }, nil
	}
}

// gatewayGroup is the Gateway API group. Its v1beta1, v1alpha2 and
// v1alpha3 kinds have the JSON shape of v1 for the fields hagate reads, so
// all are decoded into the v1 types.
const gatewayGroup = gwapiv1.GroupName

// kinds are the kinds hagate reads, by kind. Each belongs to one group, so
// kind, namespace and name identify an object.
var kinds = map[string]kind{
	"GatewayClass": {
		group: gatewayGroup, versions: []string{"v1", "v1beta1"}, clusterScoped: true,
		decode: typed(func(s *snapshot.Snapshot) *[]*gwapiv1.GatewayClass { return &s.GatewayClasses }),
	},
	"Gateway": {
		group: gatewayGroup, versions: []string{"v1", "v1beta1"},
		decode: typed(func(s *snapshot.Snapshot) *[]*gwapiv1.Gateway { return &s.Gateways }),
	},
	"ListenerSet": {
		group: gatewayGroup, versions: []string{"v1"},
		decode: typed(func(s *snapshot.Snapshot) *[]*gwapiv1.ListenerSet { return &s.ListenerSets }),
	},
	"HTTPRoute": {
		group: gatewayGroup, versions: []string{"v1", "v1beta1"},
		decode: typed(func(s *snapshot.Snapshot) *[]*gwapiv1.HTTPRoute { return &s.HTTPRoutes }),
	},
	"GRPCRoute": {
		group: gatewayGroup, versions: []string{"v1", "v1alpha2"},
		decode: typed(func(s *snapshot.Snapshot) *[]*gwapiv1.GRPCRoute { return &s.GRPCRoutes }),
	},
	"TLSRoute": {
		group: gatewayGroup, versions: []string{"v1", "v1alpha2", "v1alpha3"},
		decode: typed(func(s *snapshot.Snapshot) *[]*gwapiv1.TLSRoute { return &s.TLSRoutes }),
	},
	"TCPRoute": {
		group: gatewayGroup, versions: []string{"v1", "v1alpha2"},
		decode: typed(func(s *snapshot.Snapshot) *[]*gwapiv1.TCPRoute { return &s.TCPRoutes }),
	},
	"BackendTLSPolicy": {
		group: gatewayGroup, versions: []string{"v1", "v1alpha3"},
		decode: typed(func(s *snapshot.Snapshot) *[]*gwapiv1.BackendTLSPolicy { return &s.BackendTLSPolicies }),
	},
	"ReferenceGrant": {
		group: gatewayGroup, versions: []string{"v1", "v1beta1", "v1alpha2"},
		decode: typed(func(s *snapshot.Snapshot) *[]*gwapiv1.ReferenceGrant { return &s.ReferenceGrants }),
	},
	"Secret": {
		group: corev1.GroupName, versions: []string{"v1"},
		decode: typed(func(s *snapshot.Snapshot) *[]*corev1.Secret { return &s.Secrets }),
	},
	"ConfigMap": {
		group: corev1.GroupName, versions: []string{"v1"},
		decode: typed(func(s *snapshot.Snapshot) *[]*corev1.ConfigMap { return &s.ConfigMaps }),
	},
	"Service": {
		group: corev1.GroupName, versions: []string{"v1"},
		decode: typed(func(s *snapshot.Snapshot) *[]*corev1.Service { return &s.Services }),
	},
	"Namespace": {
		group: corev1.GroupName, versions: []string{"v1"}, clusterScoped: true,
		decode: typed(func(s *snapshot.Snapshot) *[]*corev1.Namespace { return &s.Namespaces }),
	},
	"EndpointSlice": {
		group: discoveryv1.GroupName, versions: []string{"v1"},
		decode: typed(func(s *snapshot.Snapshot) *[]*discoveryv1.EndpointSlice { return &s.EndpointSlices }),
	},
}

// Default limits on what is read. They bound the memory and time a
// hostile or mistaken input can take, while staying far above what real
// manifests need: the API server stores objects of at most about 1.5 MiB
// each, and a folder of 10,000 HTTPRoutes is 4 to 10 MB. Decoding costs
// more than the YAML's size: 10,000 HTTPRoutes (3.8 MB) keep about 12 MB
// of heap and 31 MB of TLS Secrets about 34 MB, while a pathological
// single document of millions of tiny map entries peaks near 45 times its
// size (measured on go1.26: 1.4 GB for 32 MiB).
const (
	// DefaultMaxFileBytes, 32 MiB, holds twenty objects of the largest
	// size the API server stores, or a generated bundle of tens of
	// thousands of objects.
	DefaultMaxFileBytes int64 = 32 << 20
	// DefaultMaxTotalBytes, 256 MiB, is 25 times a folder of 10,000
	// HTTPRoutes: room for tens of thousands of routes and the Secrets of
	// their certificates, and still a bounded amount of memory.
	DefaultMaxTotalBytes int64 = 256 << 20
)

// reader reads files and Stdin within a per-file and a total limit, and
// only regular files, so that neither a named pipe nor a device can make
// it block or read without end.
type reader struct {
	// maxFile and maxTotal are the limits in bytes.
	maxFile, maxTotal int64
	// done is how many bytes were read so far, by every call.
	done int64
}

// newReader returns a reader with the given limits; zero means the
// default.
func newReader(maxFile, maxTotal int64) *reader {
	if maxFile <= 0 {
		maxFile = DefaultMaxFileBytes
	}
	if maxTotal <= 0 {
		maxTotal = DefaultMaxTotalBytes
	}
	return &reader{maxFile: maxFile, maxTotal: maxTotal}
}

// file reads the regular file at path, or a symbolic link to one. It
// checks the file before opening it, opens it without blocking (a named
// pipe put in its place meanwhile cannot block the open) and checks the
// opened file again before reading it. Every error names path.
func (r *reader) file(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, statError(path, err)
	}
	if err := r.check(path, info); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err = f.Stat()
	if err != nil {
		return nil, err
	}
	if err := r.check(path, info); err != nil {
		return nil, err
	}
	return r.fromSized(path, f, info.Size())
}

// readAll is io.ReadAll starting with a buffer of size bytes.
func readAll(rd io.Reader, size int64) ([]byte, error) {
	b := make([]byte, 0, max(size, 512))
	for {
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // room to grow
		}
	}
}

// check says why the file path, described by info, is not read: it is not
// a regular file, or it is over a limit.
func (r *reader) check(path string, info fs.FileInfo) error {
	if !info.Mode().IsRegular() {
		return notRegular(path, info)
	}
	switch size := info.Size(); {
	case size > r.maxFile:
		return fmt.Errorf("%s: is %s, over the limit of %s per file", path, bytesString(size), bytesString(r.maxFile))
	case size > r.maxTotal-r.done:
		return fmt.Errorf("%s: is %s, which with the %s read before it is over the limit of %s for all files together",
			path, bytesString(size), bytesString(r.done), bytesString(r.maxTotal))
	}
	return nil
}

// from reads rd, named name in errors, to its end, but never more than
// one byte past the limits: a larger (or growing) input is an error
// without being read to its end.
func (r *reader) from(name string, rd io.Reader) ([]byte, error) {
	return r.fromSized(name, rd, 0)
}

// fromSized is from for an input of about size bytes (a file's size when
// it was opened), read into a buffer of that size.
func (r *reader) fromSized(name string, rd io.Reader, size int64) ([]byte, error) {
	limit := max(min(r.maxFile, r.maxTotal-r.done), 0)
	data, err := readAll(io.LimitReader(rd, limit+1), min(size+1, limit+1))
	r.done += int64(len(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, unwrapPath(err))
	}
	if int64(len(data)) <= limit {
		return data, nil
	}
	if limit == r.maxFile {
		return nil, fmt.Errorf("%s: holds more than %s, over the limit of %s per file (it may have grown while being read)",
			name, bytesString(limit), bytesString(r.maxFile))
	}
	return nil, fmt.Errorf("%s: holds more than %s, which with the %s read before it is over the limit of %s for all files together",
		name, bytesString(limit), bytesString(r.done-int64(len(data))), bytesString(r.maxTotal))
}

// statError is the error of os.Stat(path), saying so when path is a
// symbolic link that cannot be followed: its target is missing, or it is
// part of a loop.
func statError(path string, err error) error {
	target, lerr := os.Readlink(path)
	if lerr != nil {
		return err // not a link: the *fs.PathError names path
	}
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: is a symbolic link to %s, which does not exist: %w", path, target, unwrapPath(err))
	}
	return fmt.Errorf("%s: is a symbolic link to %s, which cannot be followed: %w", path, target, unwrapPath(err))
}

// notRegular says that path, described by info, is not a regular file,
// and what it is.
func notRegular(path string, info fs.FileInfo) error {
	var what string
	switch m := info.Mode(); {
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeCharDevice != 0:
		what = "a character device"
	case m&fs.ModeDevice != 0:
		what = "a block device"
	default:
		what = fmt.Sprintf("a file of mode %v", m)
	}
	if target, err := os.Readlink(path); err == nil {
		return fmt.Errorf("%s: is a symbolic link to %s, which is %s, not a regular file", path, target, what)
	}
	return fmt.Errorf("%s: is %s, not a regular file", path, what)
}

// unwrapPath returns the error inside an *fs.PathError, for messages that
// name the path already.
func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// bytesString is n for messages: "512 bytes", "3 MiB (3145728 bytes)".
func bytesString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB (%d bytes)", n>>20, n)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/(1<<20), n)
	}
	return fmt.Sprintf("%d bytes", n)
}
