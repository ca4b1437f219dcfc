package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
)

// figure is one number taken from each run of a group.
type figure struct {
	name  string
	unit  string
	value func(Result) float64
	loss  bool // print losses beside it
}

var throughputFigs = []figure{{name: "rate", unit: "msg/s", value: func(r Result) float64 { return r.Rate }, loss: true}}

func figuresFor(scenario string) []figure {
	switch scenario {
	case "latency":
		return []figure{
			{name: "p50", unit: "ms", value: func(r Result) float64 { return r.P50ms }},
			{name: "p99", unit: "ms", value: func(r Result) float64 { return r.P99ms }},
			{name: "max", unit: "ms", value: func(r Result) float64 { return r.MaxMs }},
		}
	case "idle":
		return []figure{
			{name: "KB/conn", unit: "KB", value: func(r Result) float64 { return r.KBPerConn }},
			{name: "RSS idle", unit: "MB", value: func(r Result) float64 { return float64(r.RSSBeforeKB) / 1024 }},
			{name: "RSS held", unit: "MB", value: func(r Result) float64 { return float64(r.RSSAfterKB) / 1024 }},
		}
	case "fanout":
		return []figure{{name: "deliveries/s", unit: "msg/s", value: func(r Result) float64 { return r.Rate }, loss: true}}
	}
	return throughputFigs
}

// printTable reads JSON result lines from the files (stdin if none) and
// prints medians with min-max per broker and the ratio first/second broker.
func printTable(files []string, w io.Writer) error {
	var results []Result
	read := func(r io.Reader) error {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if !strings.HasPrefix(line, "{") {
				continue
			}
			var res Result
			if err := json.Unmarshal([]byte(line), &res); err != nil {
				return fmt.Errorf("mqttbench: table: %w", err)
			}
			results = append(results, res)
		}
		return sc.Err()
	}
	if len(files) == 0 {
		if err := read(os.Stdin); err != nil {
			return err
		}
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return fmt.Errorf("mqttbench: table: %w", err)
		}
		err = read(fh)
		fh.Close()
		if err != nil {
			return err
		}
	}
	var brokers, groups []string
	byKey := map[string][]Result{}
	for _, r := range results {
		if !slices.Contains(brokers, r.Broker) {
			brokers = append(brokers, r.Broker)
		}
		g := groupName(r)
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
		byKey[g+"|"+r.Broker] = append(byKey[g+"|"+r.Broker], r)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"scenario", "figure"}
	for _, b := range brokers {
		head = append(head, b+" median [min-max]", b+" losses")
	}
	if len(brokers) == 2 {
		head = append(head, "ratio "+brokers[0]+"/"+brokers[1])
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, g := range groups {
		scenario := strings.SplitN(g, " ", 2)[0]
		for _, f := range figuresFor(scenario) {
			row := []string{g, f.name + " (" + f.unit + ")"}
			var meds []float64
			for _, b := range brokers {
				runs := byKey[g+"|"+b]
				if len(runs) == 0 {
					row = append(row, "-", "-")
					meds = append(meds, 0)
					continue
				}
				vals := make([]float64, len(runs))
				for i, r := range runs {
					vals[i] = f.value(r)
				}
				slices.Sort(vals)
				med := median(vals)
				meds = append(meds, med)
				row = append(row, fmt.Sprintf("%s [%s-%s] n=%d", num(med), num(vals[0]), num(vals[len(vals)-1]), len(vals)), losses(runs, f.loss))
			}
			if len(brokers) == 2 {
				if meds[1] != 0 {
					row = append(row, fmt.Sprintf("%.2f", meds[0]/meds[1]))
				} else {
					row = append(row, "-")
				}
			}
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
	}
	return tw.Flush()
}

func groupName(r Result) string {
	return fmt.Sprintf("%s %s qos%d", r.Scenario, r.Transport, r.QoS)
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// losses sums lost, duplicated and out-of-order messages and failures over runs.
func losses(runs []Result, show bool) string {
	var lost, expected, dup, ooo, failed, errs int64
	for _, r := range runs {
		lost += r.Lost
		expected += r.Expected
		dup += r.Dup
		ooo += r.OutOfOrder
		failed += r.Failed
		if r.Error != "" {
			errs++
		}
	}
	var parts []string
	if show || lost > 0 {
		if expected > 0 {
			parts = append(parts, fmt.Sprintf("lost %d (%.2f%%)", lost, 100*float64(lost)/float64(expected)))
		} else {
			parts = append(parts, fmt.Sprintf("lost %d", lost))
		}
	}
	if dup > 0 {
		parts = append(parts, fmt.Sprintf("dup %d", dup))
	}
	if ooo > 0 {
		parts = append(parts, fmt.Sprintf("ooo %d", ooo))
	}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("failed %d", failed))
	}
	if errs > 0 {
		parts = append(parts, fmt.Sprintf("%d run(s) with errors", errs))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}
