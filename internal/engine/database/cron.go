package database

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// schedule is a parsed standard 5-field cron expression
// (minute hour day-of-month month day-of-week), as Vault's
// rotation_schedule takes. Fields accept *, N, A-B, lists and /STEP.
// When both day fields are restricted, a day matching either one matches,
// as in cron.
type schedule struct {
	minute, hour, dom, month, dow uint64 // bit sets
	domStar, dowStar              bool
}

var cronFields = []struct{ min, max int }{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 7}}

// parseCron parses expr. Errors name the field, never echo the input.
func parseCron(expr string) (*schedule, error) {
	if len(expr) > 256 {
		return nil, errors.New("rotation_schedule: too long")
	}
	f := strings.Fields(expr)
	if len(f) != 5 {
		return nil, errors.New("rotation_schedule: want 5 fields (minute hour day month weekday)")
	}
	var sets [5]uint64
	for i, field := range f {
		s, err := parseCronField(field, cronFields[i].min, cronFields[i].max)
		if err != nil {
			return nil, errors.New("rotation_schedule: field " + strconv.Itoa(i+1) + ": " + err.Error())
		}
		sets[i] = s
	}
	if sets[4]&(1<<7) != 0 { // 7 is Sunday too
		sets[4] |= 1
	}
	return &schedule{minute: sets[0], hour: sets[1], dom: sets[2], month: sets[3], dow: sets[4],
		domStar: f[2] == "*" || f[2] == "?", dowStar: f[4] == "*" || f[4] == "?"}, nil
}

func parseCronField(field string, lo, hi int) (uint64, error) {
	var set uint64
	for _, part := range strings.Split(field, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 || n > hi {
				return 0, errors.New("bad step")
			}
			step = n
		}
		a, b := lo, hi
		switch {
		case rng == "*" || rng == "?":
		case strings.Contains(rng, "-"):
			as, bs, _ := strings.Cut(rng, "-")
			var err1, err2 error
			a, err1 = strconv.Atoi(as)
			b, err2 = strconv.Atoi(bs)
			if err1 != nil || err2 != nil {
				return 0, errors.New("bad range")
			}
		default:
			n, err := strconv.Atoi(rng)
			if err != nil {
				return 0, errors.New("bad value")
			}
			a, b = n, n
			if hasStep {
				b = hi
			}
		}
		if a < lo || b > hi || a > b {
			return 0, errors.New("value out of range")
		}
		for v := a; v <= b; v += step {
			set |= 1 << uint(v)
		}
	}
	return set, nil
}

func has(set uint64, v int) bool { return set&(1<<uint(v)) != 0 }

func (s *schedule) dayMatches(t time.Time) bool {
	d, w := has(s.dom, t.Day()), has(s.dow, int(t.Weekday()))
	switch {
	case s.domStar && s.dowStar:
		return true
	case s.domStar:
		return w
	case s.dowStar:
		return d
	}
	return d || w
}

// next returns the first matching minute strictly after t (in t's
// location), or the zero time if none within five years (e.g. "0 0 30 2 *").
func (s *schedule) next(t time.Time) time.Time {
	t = t.Truncate(time.Minute).Add(time.Minute)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		if !has(s.month, int(t.Month())) {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, t.Location())
			continue
		}
		if !s.dayMatches(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, t.Location())
			continue
		}
		if !has(s.hour, t.Hour()) {
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, t.Location())
			continue
		}
		if !has(s.minute, t.Minute()) {
			t = t.Add(time.Minute)
			continue
		}
		return t
	}
	return time.Time{}
}
