package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram layout: latencies in microseconds; values below histLinear
// have a bucket each, larger ones fall into buckets histSub per power of
// two, so every bucket is at most 1/32 (about 3%) of its value wide. Values
// past 2^histMaxExp µs (about 71 minutes) share the last bucket.
const (
	histLinear = 64
	histSub    = 32
	histMaxExp = 32
	histSize   = histLinear + (histMaxExp-5)*histSub
)

// Histogram records latencies with bounded relative error. The zero value
// is ready; it is not safe for concurrent use (each simulated client keeps
// its own and they are merged at the end).
type Histogram struct {
	counts [histSize]uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

func bucketOf(us uint64) int {
	if us < histLinear {
		return int(us)
	}
	e := bits.Len64(us) - 6 // us>>e lies in [32, 64)
	i := histLinear + (e-1)*histSub + int(us>>uint(e)) - histSub
	if i >= histSize {
		return histSize - 1
	}
	return i
}

// bucketHigh returns the largest value (µs) of bucket i.
func bucketHigh(i int) uint64 {
	if i < histLinear {
		return uint64(i)
	}
	e := (i-histLinear)/histSub + 1
	sub := uint64((i-histLinear)%histSub + histSub)
	return (sub+1)<<uint(e) - 1
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d/time.Microsecond))]++
	h.n++
	h.sum += d
	if d > h.max {
		h.max = d
	}
}

// Merge adds o's samples to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest sample.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns the mean sample, 0 without samples.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the q-quantile (0 < q <= 1): the upper bound of the
// bucket holding the ceil(q*n)-th smallest sample, never above the maximum.
// It is 0 without samples.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := time.Duration(bucketHigh(i)) * time.Microsecond
			if i < histLinear {
				// Exact buckets hold [i, i+1) µs.
				v = time.Duration(i+1)*time.Microsecond - 1
			}
			if v > h.max {
				v = h.max
			}
			return v
		}
	}
	return h.max
}
