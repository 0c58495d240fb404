package files

import (
	"bufio"
	"bytes"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// splitYAML splits data into documents exactly as
// k8s.io/apimachinery/pkg/util/yaml's YAMLReader does, reading it until
// io.EOF, without copying: each document is a part of data unless a line
// of it ends in "\r\n" or data does not end with a line break (the reader
// turns both into "\n"). A line starting with "---" ends a document; one
// with more than spaces and a comment after the "---" is an error, and the
// lines read before it in that document are lost, as with the reader. A
// "---" line with no document before it starts the next document.
func splitYAML(data []byte) (docs [][]byte, errs []error) {
	var (
		// The current document: data[start:end] when plain, else buf.
		start, end = -1, -1
		buf        []byte
		copied     bool
	)
	emit := func(doc []byte) {
		docs = append(docs, doc)
		errs = append(errs, nil)
	}
	reset := func() { start, end, buf, copied = -1, -1, nil, false }
	current := func() []byte {
		if copied {
			return buf
		}
		return data[start:end]
	}
	empty := func() bool { return start < 0 && !copied }
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], '\n')
		next, plain := i+j+1, true
		content := data[i:]
		if j >= 0 {
			content = data[i : i+j]
			if len(content) > 0 && content[len(content)-1] == '\r' {
				content, plain = content[:len(content)-1], false
			}
		} else {
			next, plain = len(data), false // the reader adds the line break
		}
		if bytes.HasPrefix(content, []byte("---")) {
			trimmed := strings.TrimSpace(string(content[3:]))
			if len(trimmed) > 0 && trimmed[0] != '#' {
				docs = append(docs, nil)
				errs = append(errs, separatorError(content))
				reset()
				i = next
				continue
			}
			if !empty() {
				emit(current())
				reset()
				i = next
				continue
			}
		}
		// Add the line (with a "\n") to the document.
		switch {
		case !copied && plain && (start < 0 || end == i):
			if start < 0 {
				start = i
			}
			end = next
		default:
			if !copied {
				if start >= 0 {
					buf = append(buf, data[start:end]...)
				}
				copied = true
			}
			buf = append(buf, content...)
			buf = append(buf, '\n')
		}
		i = next
	}
	if !empty() {
		emit(current())
	}
	return docs, errs
}

// separatorError is the error YAMLReader gives for the bad separator
// line.
func separatorError(line []byte) error {
	_, err := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(append(append([]byte(nil), line...), '\n')))).Read()
	return err
}
