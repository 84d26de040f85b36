package redisstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"switchyard/admin"
)

// compressAbove is the size of JSON from which a value is stored
// zstd-compressed. Smaller values stay plain JSON, readable with redis-cli.
const compressAbove = 4 << 10

// zstdMagic starts every zstd frame; JSON never starts with it, so a stored
// value says itself whether it is compressed.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// The encoder and decoder are safe for concurrent EncodeAll/DecodeAll and
// costly to build, so the package shares one of each.
var (
	codecOnce sync.Once
	encoder   *zstd.Encoder
	decoder   *zstd.Decoder
)

func initCodec() {
	codecOnce.Do(func() {
		var err error
		// SpeedFastest compresses a 100k-appkey table about 10x at a few
		// hundred MB/s (see BenchmarkCommitLargeTable); higher levels gain
		// little on JSON this repetitive and cost commit latency.
		encoder, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(fmt.Sprintf("BUG: cannot build zstd encoder: %v", err))
		}
		// The cap (256 MiB, the admin API's default body limit) guards
		// against a corrupt value claiming a huge size.
		decoder, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(256<<20))
		if err != nil {
			panic(fmt.Sprintf("BUG: cannot build zstd decoder: %v", err))
		}
	})
}

// encode marshals v to JSON and compresses it when it is large.
func encode(v any, compress bool) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return maybeCompress(b, compress), nil
}

func maybeCompress(b []byte, compress bool) []byte {
	if !compress || len(b) < compressAbove {
		return b
	}
	initCodec()
	return encoder.EncodeAll(b, make([]byte, 0, len(b)/8))
}

// decode reverses encode: it decompresses a zstd value, then unmarshals it.
func decode(b []byte, v any) error {
	b, err := decompress(b)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func decompress(b []byte) ([]byte, error) {
	if !bytes.HasPrefix(b, zstdMagic) {
		return b, nil
	}
	initCodec()
	plain, err := decoder.DecodeAll(b, make([]byte, 0, 8*len(b)))
	if err != nil {
		return nil, fmt.Errorf("cannot decompress stored value: %w", err)
	}
	return plain, nil
}

// stateHeader is a State without its table.
type stateHeader struct {
	Version uint64            `json:"version"`
	Scripts map[string]string `json:"scripts"`
	At      time.Time         `json:"at"`
	Who     string            `json:"who"`
	Action  string            `json:"action"`
}

// encodeState stores a State as its header in JSON, a newline, and the
// table's JSON as given (the header is compact JSON, which has no raw
// newline, so the first one ends it). Passing the table through untouched saves a JSON scan
// of up to tens of MB on every commit and load: the admin validated it
// before the commit and parses it after the load anyway.
// It also returns the version's metadata: the header without the scripts.
func encodeState(st admin.State, compress bool) (value, meta []byte, err error) {
	head, err := json.Marshal(stateHeader{st.Version, st.Scripts, st.At, st.Who, st.Action})
	if err != nil {
		return nil, nil, err
	}
	if meta, err = json.Marshal(stateHeader{Version: st.Version, At: st.At, Who: st.Who, Action: st.Action}); err != nil {
		return nil, nil, err
	}
	b := make([]byte, 0, len(head)+1+len(st.Table))
	b = append(append(append(b, head...), '\n'), st.Table...)
	return maybeCompress(b, compress), meta, nil
}

// decodeMeta reads what encodeState returned as meta.
func decodeMeta(b []byte) (admin.State, error) {
	var h stateHeader
	if err := json.Unmarshal(b, &h); err != nil {
		return admin.State{}, err
	}
	return admin.State{Version: h.Version, At: h.At, Who: h.Who, Action: h.Action}, nil
}

// decodeState reverses encodeState.
func decodeState(b []byte) (admin.State, error) {
	b, err := decompress(b)
	if err != nil {
		return admin.State{}, err
	}
	head, table, ok := bytes.Cut(b, []byte{'\n'})
	if !ok {
		return admin.State{}, errors.New("stored state has no header line")
	}
	var h stateHeader
	if err := json.Unmarshal(head, &h); err != nil {
		return admin.State{}, fmt.Errorf("cannot parse stored state header: %w", err)
	}
	st := admin.State{Version: h.Version, Scripts: h.Scripts, At: h.At, Who: h.Who, Action: h.Action}
	if len(table) > 0 {
		st.Table = json.RawMessage(table)
	}
	return st, nil
}
