package scan

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
)

// TextOptions controls the human-readable report.
type TextOptions struct {
	Color bool
}

const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiDim   = "\x1b[2m"
)

var severityColor = map[Severity]string{
	SeverityCritical: "\x1b[1;31m",
	SeverityHigh:     "\x1b[31m",
	SeverityMedium:   "\x1b[33m",
	SeverityLow:      "\x1b[36m",
	SeverityInfo:     "\x1b[2m",
}

// safeText strips control characters (terminal escapes hidden in file or
// member names) from text going to a terminal.
func safeText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

// WriteText writes a readable report of findings; secrets appear only
// redacted.
func WriteText(w io.Writer, res *Result, findings []Finding, o TextOptions) error {
	c := func(code, s string) string {
		if !o.Color {
			return s
		}
		return code + s + ansiReset
	}
	var b strings.Builder
	for _, f := range findings {
		loc := safeText(f.Path)
		if f.Line > 0 {
			loc = fmt.Sprintf("%s:%d:%d", loc, f.Line, f.Column)
		}
		fmt.Fprintf(&b, "%s %s %s\n", c(severityColor[f.Severity], strings.ToUpper(f.Severity.String())), c(ansiBold, f.RuleID), f.Description)
		fmt.Fprintf(&b, "  %s\n", loc)
		enc := ""
		if f.Encoding != "" {
			enc = " (" + f.Encoding + "-encoded)"
		}
		fmt.Fprintf(&b, "  secret: %s%s\n", f.Redacted, enc)
		if f.Confidence != 0 {
			tm := ""
			if f.TestMaterial != "" {
				tm = " (test material: " + f.TestMaterial + ")"
			}
			fmt.Fprintf(&b, "  confidence: %s%s\n", f.Confidence, tm)
		}
		if f.Commit != "" {
			fmt.Fprintf(&b, "  commit: %s %s\n", f.Commit, c(ansiDim, safeText(f.Author)+" "+f.Date))
		}
		if f.Layer != "" {
			step := ""
			if f.LayerStep != "" {
				step = " " + c(ansiDim, safeText(f.LayerStep))
			}
			fmt.Fprintf(&b, "  layer: %s%s\n", f.Layer, step)
		}
		fmt.Fprintf(&b, "  fingerprint: %s\n\n", f.Fingerprint)
	}
	counts := map[Severity]int{}
	for _, f := range findings {
		counts[f.Severity]++
	}
	var parts []string
	for s := SeverityCritical; s >= SeverityInfo; s-- {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	summary := fmt.Sprintf("%d findings", len(findings))
	if len(parts) > 0 {
		summary += " (" + strings.Join(parts, ", ") + ")"
	}
	if res != nil {
		summary += fmt.Sprintf(" in %d files, %s scanned", res.Files, humanBytes(res.Bytes))
		if len(res.Skipped) > 0 {
			b.WriteString("not scanned, or not to the end:\n")
			for _, sk := range res.Skipped {
				where := ""
				if sk.Commit != "" {
					where = " (commit " + sk.Commit + ")"
				}
				if sk.Layer != "" {
					where = " (layer " + sk.Layer + ")"
				}
				line := "  " + safeText(sk.Path) + where + ": " + safeText(sk.Reason)
				if sk.Incomplete {
					line = c(severityColor[SeverityMedium], line+" [incomplete]")
				}
				b.WriteString(line + "\n")
			}
			b.WriteString("\n")
			summary += fmt.Sprintf("; %d skipped, %d incomplete", len(res.Skipped), res.Incomplete())
		}
		if h := res.Hidden; h.Total > 0 {
			summary += "; " + hiddenText(h)
		}
	}
	b.WriteString(summary + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// hiddenText says what a report left out and how to see it.
func hiddenText(h Hidden) string {
	s := fmt.Sprintf("%d hidden", h.Total)
	switch {
	case h.TestMaterial == h.Total:
		s += " as test material (--include-test-material shows them)"
	case h.TestMaterial > 0:
		s += fmt.Sprintf(" below the confidence threshold, %d of them test material (--min-confidence low shows them)", h.TestMaterial)
	default:
		s += " below the confidence threshold (--min-confidence low shows them)"
	}
	return s
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// jsonReport is the JSON output document.
type jsonReport struct {
	Findings []Finding `json:"findings"`
	Files    int64     `json:"files"`
	Bytes    int64     `json:"bytes"`
	// Skipped lists every input not scanned, or not to its end;
	// Incomplete counts those a limit or an error cut short.
	Skipped    []Skip `json:"skipped"`
	Incomplete int    `json:"incomplete"`
	// Hidden counts findings left out below the confidence threshold.
	Hidden Hidden `json:"hidden"`
}

// WriteJSON writes findings as JSON; each finding carries its redacted
// secret and fingerprint, never the secret.
func WriteJSON(w io.Writer, res *Result, findings []Finding) error {
	r := jsonReport{Findings: findings, Skipped: []Skip{}}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	if res != nil {
		r.Files, r.Bytes, r.Incomplete, r.Hidden = res.Files, res.Bytes, res.Incomplete(), res.Hidden
		if res.Skipped != nil {
			r.Skipped = res.Skipped
		}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// SARIF 2.1.0 document types (the subset we emit).
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations"`
	Results     []sarifResult     `json:"results"`
}

// sarifInvocation says whether the scan covered all its input; each skip
// is a tool execution notification on the skipped artifact.
type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
	Properties                 map[string]int      `json:"properties,omitempty"`
}

type sarifNotification struct {
	Descriptor sarifDescriptorRef `json:"descriptor"`
	Level      string             `json:"level"`
	Message    sarifText          `json:"message"`
	Locations  []sarifLocation    `json:"locations"`
	Properties map[string]string  `json:"properties,omitempty"`
}

type sarifDescriptorRef struct {
	ID string `json:"id"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Version        string      `json:"version,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string          `json:"id"`
	Name                 string          `json:"name"`
	ShortDescription     sarifText       `json:"shortDescription"`
	DefaultConfiguration sarifRuleConfig `json:"defaultConfiguration"`
	Properties           map[string]any  `json:"properties,omitempty"`
}

type sarifRuleConfig struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Rank                float64           `json:"rank,omitempty"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]string `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

// SARIFLevel maps a severity to a SARIF result level.
func SARIFLevel(s Severity) string {
	switch {
	case s >= SeverityHigh:
		return "error"
	case s == SeverityMedium:
		return "warning"
	default:
		return "note"
	}
}

// sarifRank is SARIF's result.rank (0–100, how likely the result is
// right) for each confidence.
var sarifRank = map[Confidence]float64{ConfidenceHigh: 90, ConfidenceMedium: 60, ConfidenceLow: 20}

var securitySeverity = map[Severity]string{
	SeverityCritical: "9.5", SeverityHigh: "8.0", SeverityMedium: "5.5", SeverityLow: "3.0", SeverityInfo: "0.0",
}

// WriteSARIF writes findings as a SARIF 2.1.0 log for code-scanning UIs.
// rules lists every rule run, so the driver describes the whole ruleset.
// res, if set, supplies the skipped inputs: each becomes a notification
// ("keyward/skipped", or "keyward/incomplete" at level error, which also
// marks the invocation unsuccessful).
func WriteSARIF(w io.Writer, res *Result, rules []*Rule, findings []Finding, version string) error {
	d := sarifDriver{Name: "keyward", InformationURI: "https://github.com/keyward/keyward", Version: version, Rules: []sarifRule{}}
	index := map[string]int{}
	sorted := append([]*Rule(nil), rules...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	for _, r := range sorted {
		index[r.ID] = len(d.Rules)
		d.Rules = append(d.Rules, sarifRule{
			ID: r.ID, Name: ruleName(r.ID), ShortDescription: sarifText{r.Description},
			DefaultConfiguration: sarifRuleConfig{Level: SARIFLevel(r.Severity)},
			Properties:           map[string]any{"security-severity": securitySeverity[r.Severity], "tags": []string{"security", "secret"}},
		})
	}
	results := []sarifResult{}
	for _, f := range findings {
		i, ok := index[f.RuleID]
		if !ok {
			i = len(d.Rules)
			index[f.RuleID] = i
			d.Rules = append(d.Rules, sarifRule{ID: f.RuleID, Name: ruleName(f.RuleID), ShortDescription: sarifText{f.Description}, DefaultConfiguration: sarifRuleConfig{Level: SARIFLevel(f.Severity)}})
		}
		msg := fmt.Sprintf("%s found (%s)", f.Description, f.Redacted)
		props := map[string]string{"severity": f.Severity.String()}
		for k, v := range map[string]string{"commit": f.Commit, "author": f.Author, "date": f.Date, "layer": f.Layer, "layerStep": f.LayerStep, "encoding": f.Encoding, "testMaterial": f.TestMaterial} {
			if v != "" {
				props[k] = v
			}
		}
		if f.Confidence != 0 {
			props["confidence"] = f.Confidence.String()
		}
		results = append(results, sarifResult{
			RuleID: f.RuleID, RuleIndex: i, Level: SARIFLevel(f.Severity), Rank: sarifRank[f.Confidence], Message: sarifText{msg},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysical{
				ArtifactLocation: sarifArtifact{URI: (&url.URL{Path: f.Path}).String()},
				Region:           &sarifRegion{StartLine: max(1, f.Line), StartColumn: max(1, f.Column)},
			}}},
			PartialFingerprints: map[string]string{"keyward/v1": f.Fingerprint},
			Properties:          props,
		})
	}
	inv := sarifInvocation{ExecutionSuccessful: true}
	if res != nil {
		inv.ExecutionSuccessful = res.Incomplete() == 0
		if h := res.Hidden; h.Total > 0 {
			inv.Properties = map[string]int{"hiddenFindings": h.Total, "hiddenTestMaterial": h.TestMaterial}
			inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, sarifNotification{
				Descriptor: sarifDescriptorRef{ID: "keyward/hidden"}, Level: "note", Message: sarifText{hiddenText(h)}, Locations: []sarifLocation{},
			})
		}
		for _, sk := range res.Skipped {
			n := sarifNotification{
				Descriptor: sarifDescriptorRef{ID: "keyward/skipped"}, Level: "note", Message: sarifText{sk.Reason},
				Locations: []sarifLocation{{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: (&url.URL{Path: sk.Path}).String()}}}},
			}
			if sk.Incomplete {
				n.Descriptor.ID, n.Level = "keyward/incomplete", "error"
			}
			for k, v := range map[string]string{"commit": sk.Commit, "layer": sk.Layer} {
				if v != "" {
					if n.Properties == nil {
						n.Properties = map[string]string{}
					}
					n.Properties[k] = v
				}
			}
			inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, n)
		}
	}
	log := sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifRun{{Tool: sarifTool{Driver: d}, Invocations: []sarifInvocation{inv}, Results: results}},
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

// ruleName turns aws-access-key-id into AwsAccessKeyId, SARIF's rule name style.
func ruleName(id string) string {
	var b strings.Builder
	for _, p := range strings.FieldsFunc(id, func(r rune) bool { return r == '-' || r == '_' }) {
		b.WriteString(strings.ToUpper(p[:1]) + p[1:])
	}
	return b.String()
}
