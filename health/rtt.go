package health

import (
	"math"
	"time"
)

// RTTFactor is the weight of each new round in a target's smoothed
// round-trip time: srtt += RTTFactor × (sample − srtt).
//
// 0.3 follows a real change within a few rounds yet does not jump on one
// outlier: after a step change the smoothed value has covered 66 % of it in
// 3 rounds and 92 % in 7 (1 − 0.7ⁿ), so a target that really slowed down
// shows it within a minute at the default 5s interval; one outlier moves it
// by 30 % of its excess, and that has faded under 5 % after 6 rounds. TCP's
// 1/8 (RFC 6298) suits many samples a second; at one round per interval it
// would take 18 rounds to cover 90 % of a change.
const RTTFactor = 0.3

// ewma folds one round's RTT sample into the smoothed round-trip time prev.
// prev 0 means no sample yet: the first sample starts it. A sample is
// counted as at least 1ns, so that 0 keeps meaning "none yet".
func ewma(prev, sample time.Duration) time.Duration {
	sample = max(sample, 1)
	if prev <= 0 {
		return sample
	}
	return prev + time.Duration(math.Round(RTTFactor*float64(sample-prev)))
}

// roundRTT is a round's round-trip time sample: its checks run in parallel,
// so the slowest of those that passed (each by its measuredRTT). A failed check's duration is not the
// target's (a timeout measures the timeout), so a round that passed on
// require N of M does not count those; a round without a passed check has
// no sample (0).
func roundRTT(results []Result) time.Duration {
	var slowest time.Duration
	for _, r := range results {
		if r.OK {
			slowest = max(slowest, r.measuredRTT())
		}
	}
	return slowest
}
