// Package bodies reads the request-bodies files of bench/ (JSON lines, as
// bench/gen writes them) and holds the header convention all senders share.
package bodies

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
)

// TrialHeader is sent as "X-Trial: 1" with request i of a bodies file when
// i is odd, so that the generated match rules (which require it) can match.
const TrialHeader = "X-Trial"

// Trial reports whether request i carries TrialHeader.
func Trial(i int) bool { return i%2 == 1 }

// Read returns the non-empty lines of path, at most limit of them (limit
// <= 0: all).
func Read(path string, limit int) ([][]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("no bodies file given")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() && (limit <= 0 || len(out) < limit) {
		if len(sc.Bytes()) > 0 {
			out = append(out, bytes.Clone(sc.Bytes()))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no request bodies", path)
	}
	return out, nil
}
