package loadtest

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Why the live merge reads histograms itself.
//
// hdrhistogram.Decode makes a dense histogram: a counts array of some
// 256 KB for 1ns..1h at 3 digits, which an interval's few hundred used
// buckets do not need, allocated and cleared per record; merging it walks
// every recorded bucket through an iterator. At a thousand records a
// second that is most of a core. The encoding (V2, deflated) lists the
// counts in index order with runs of zeros folded, so the merge reads the
// used buckets straight into (index, count) pairs and adds them to its
// accumulator's counts: the same counts, exactly, for a fraction of the
// work. The geometry is checked against the accumulator's; a histogram
// of another geometry goes the slow way (decodeHistogram, then Merge).

// sparseHist is an encoded histogram's geometry and used buckets.
type sparseHist struct {
	lowest, highest int64
	sigFigs         int64
	ratio           float64
	idx             []int32
	counts          []int64
}

// The V2 encoding's layout (see HdrHistogram's EncodableHistogram).
const (
	v2Header                = 40
	maxSparsePayload        = 4 << 20 // no valid histogram of ours comes near it
	cookieMask       uint32 = 0xf0
)

var zlibReaders sync.Pool // of zlib readers, Reset per histogram

// decodeSparse decodes a histogram as Histogram.MarshalJSON wrote it
// (base64 of the V2 compressed encoding) into its used buckets.
func decodeSparse(enc string) (*sparseHist, error) {
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("loadtest: histogram: %w", err)
	}
	if len(raw) < 8 {
		return nil, errors.New("loadtest: histogram: too short")
	}
	if int32(binary.BigEndian.Uint32(raw[0:4])&^cookieMask) != hdrhistogram.V2CompressedEncodingCookieBase {
		return nil, errors.New("loadtest: histogram: not the V2 compressed encoding")
	}
	clen := int64(int32(binary.BigEndian.Uint32(raw[4:8])))
	if clen < 0 || clen > int64(len(raw)-8) {
		return nil, fmt.Errorf("loadtest: histogram: compressed length %d, %d bytes given", clen, len(raw)-8)
	}
	src := bytes.NewReader(raw[8 : 8+clen])
	var z io.ReadCloser
	if zr, ok := zlibReaders.Get().(io.ReadCloser); ok && zr.(zlib.Resetter).Reset(src, nil) == nil {
		z = zr
	} else if z, err = zlib.NewReader(src); err != nil {
		return nil, fmt.Errorf("loadtest: histogram: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(z, maxSparsePayload+v2Header+1))
	if cerr := z.Close(); err == nil {
		err = cerr
	}
	zlibReaders.Put(z)
	if err != nil {
		return nil, fmt.Errorf("loadtest: histogram: %w", err)
	}
	if len(data) < v2Header {
		return nil, errors.New("loadtest: histogram: header truncated")
	}
	if int32(binary.BigEndian.Uint32(data[0:4])&^cookieMask) != hdrhistogram.V2EncodingCookieBase {
		return nil, errors.New("loadtest: histogram: not the V2 encoding")
	}
	plen := int64(int32(binary.BigEndian.Uint32(data[4:8])))
	if plen < 0 || plen != int64(len(data)-v2Header) {
		return nil, fmt.Errorf("loadtest: histogram: payload of %d bytes, %d given", plen, len(data)-v2Header)
	}
	h := &sparseHist{
		sigFigs: int64(int32(binary.BigEndian.Uint32(data[12:16]))),
		lowest:  int64(binary.BigEndian.Uint64(data[16:24])),
		highest: int64(binary.BigEndian.Uint64(data[24:32])),
		ratio:   math.Float64frombits(binary.BigEndian.Uint64(data[32:40])),
	}
	payload := data[v2Header:]
	var at int64
	for len(payload) > 0 {
		v, n, err := zigzag(payload)
		if err != nil {
			return nil, err
		}
		payload = payload[n:]
		switch {
		case v < 0:
			if v == math.MinInt64 {
				return nil, errors.New("loadtest: histogram: corrupt zero run")
			}
			at -= v
		case v > 0:
			h.idx = append(h.idx, int32(min(at, math.MaxInt32)))
			h.counts = append(h.counts, v)
			at++
		default:
			at++
		}
		if at > math.MaxInt32 {
			return nil, errors.New("loadtest: histogram: index out of range")
		}
	}
	return h, nil
}

// zigzag reads one ZigZag LEB128 value of at most 9 bytes (the 9th holds
// 8 bits), as HdrHistogram writes them.
func zigzag(b []byte) (int64, int, error) {
	var v uint64
	for i := range 9 {
		if i >= len(b) {
			return 0, 0, errors.New("loadtest: histogram: truncated value")
		}
		if i == 8 {
			v |= uint64(b[8]) << 56
			return int64((v >> 1) ^ -(v & 1)), 9, nil
		}
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return int64((v >> 1) ^ -(v & 1)), i + 1, nil
		}
	}
	panic("unreachable")
}

// addSparse adds o's buckets to l's counts; a histogram of another
// geometry than l's, or the first one l gets, is made dense.
func (l *liveStats) addSparse(o *sparseHist) error {
	l.expand()
	if l.snap != nil && l.snap.LowestTrackableValue == o.lowest && l.snap.HighestTrackableValue == o.highest &&
		l.snap.SignificantFigures == o.sigFigs && l.snap.IntegerToDoubleConversionRatio == o.ratio {
		counts := l.snap.Counts
		for i, at := range o.idx {
			if int(at) >= len(counts) {
				return fmt.Errorf("loadtest: histogram: bucket %d of %d", at, len(counts))
			}
			counts[at] += o.counts[i]
		}
		return nil
	}
	d, err := o.dense()
	if err != nil {
		return err
	}
	l.addSnapshot(d)
	return nil
}

// dense is o as a snapshot of a histogram of its geometry.
func (o *sparseHist) dense() (*hdrhistogram.Snapshot, error) {
	h := hdrhistogram.New(o.lowest, o.highest, int(o.sigFigs))
	s := h.Export()
	if s.LowestTrackableValue != o.lowest || s.HighestTrackableValue != o.highest || s.SignificantFigures != o.sigFigs {
		return nil, fmt.Errorf("loadtest: histogram: unusable geometry %d..%d, %d digits", o.lowest, o.highest, o.sigFigs)
	}
	s.IntegerToDoubleConversionRatio = o.ratio
	for i, at := range o.idx {
		if int(at) >= len(s.Counts) {
			return nil, fmt.Errorf("loadtest: histogram: bucket %d of %d", at, len(s.Counts))
		}
		s.Counts[at] += o.counts[i]
	}
	return s, nil
}
