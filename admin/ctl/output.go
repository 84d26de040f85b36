package ctl

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"
)

// formatOpts are the output flags of the commands that print documents.
type formatOpts struct {
	yaml bool
}

func formatFlags(fs *flag.FlagSet) any {
	o := &formatOpts{}
	fs.BoolVar(&o.yaml, "yaml", false, "print YAML instead of JSON")
	return o
}

// writeDoc prints a JSON document indented, or as YAML with the same key
// order.
func writeDoc(w io.Writer, doc []byte, asYAML bool) error {
	if asYAML {
		y, err := jsonToYAML(doc)
		if err != nil {
			return err
		}
		_, err = w.Write(y)
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(doc), "", "  "); err != nil {
		return fmt.Errorf("the server answered something other than JSON: %w", err)
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

// jsonToYAML re-renders JSON as block-style YAML, keeping the key order
// (JSON is YAML, so yaml.v3 parses it into nodes; clearing the flow and
// quoting styles lets the encoder choose, and it quotes every string that
// would otherwise read as another type, such as "on" or "7").
func jsonToYAML(doc []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		return nil, fmt.Errorf("the server answered something other than JSON: %w", err)
	}
	var clear func(*yaml.Node)
	clear = func(n *yaml.Node) {
		n.Style = 0
		// yaml.v3 writes YAML 1.2, where on, off, yes and no are plain
		// strings; YAML 1.1 readers take them for booleans, so keep them
		// quoted.
		if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && yaml11Bools[strings.ToLower(n.Value)] {
			n.Style = yaml.DoubleQuotedStyle
		}
		for _, c := range n.Content {
			clear(c)
		}
	}
	clear(&n)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

var yaml11Bools = map[string]bool{"y": true, "n": true, "yes": true, "no": true, "on": true, "off": true, "true": true, "false": true}

// newTable returns a writer that aligns tab-separated columns; Flush it.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}
