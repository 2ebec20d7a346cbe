package config

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const corpusDir = "../../../shared/corpus"

// differencesFile lists each corpus file where vipd's verdict is not
// keepalived's, with the reason. -update rewrites it, keeping the reasons
// already written; a new difference that is not a feature vipd lacks gets
// the reason TODO, which fails the test until someone explains it.
const differencesFile = "testdata/corpus_differences.tsv"

var update = flag.Bool("update", false, "rewrite "+differencesFile)

// corpusFile is one row of the corpus's VERDICTS.tsv.
type corpusFile struct {
	name  string // as in VERDICTS.tsv
	path  string
	tier  string
	clean bool
	hard  string // hard_lines: "12,15", the lines keepalived found hard problems on
}

func readCorpus(t testing.TB) []corpusFile {
	t.Helper()
	f, err := os.Open(filepath.Join(corpusDir, "VERDICTS.tsv"))
	if err != nil {
		t.Fatalf("the corpus must be at %s (../shared beside the checkout): %v", corpusDir, err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma, r.LazyQuotes, r.FieldsPerRecord = '\t', true, -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var out []corpusFile
	for _, row := range rows[1:] {
		out = append(out, corpusFile{
			name:  row[col["file"]],
			path:  filepath.Join(corpusDir, row[col["file"]]),
			tier:  row[col["tier"]],
			clean: row[col["clean"]] == "1",
			hard:  row[col["hard_lines"]],
		})
	}
	return out
}

// corpusOptions are those keepalived's verdicts were taken with.
// corpusOptions read the files as the verdicts were taken: with -i
// holdout, on a host with no DNS, where only localhost resolves.
var corpusOptions = Options{ConfigID: "holdout", Resolve: func(host string) error {
	if host == "localhost" {
		return nil
	}
	return errors.New("no DNS on the verdict host")
}}

// checkFileLines is vipd -t on one file: nil if it would run, and the
// lines of the file itself that an error or a warning names.
func checkFileLines(path string) (map[int]bool, error) {
	cfg, err := Load(path, corpusOptions)
	if err == nil {
		err = cfg.Validate()
	}
	named := map[int]bool{}
	note := func(pos Pos) {
		if pos.File == path {
			named[pos.Line] = true
		}
	}
	var errs Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			var le *Error
			var ns *NotSupportedError
			switch {
			case errors.As(e, &le):
				note(le.Pos)
			case errors.As(e, &ns):
				note(ns.Pos)
			}
		}
	}
	if cfg != nil {
		for _, w := range cfg.Warnings {
			note(w.Pos)
		}
	}
	return named, err
}

// difference is a corpus file where vipd and keepalived disagree.
type difference struct {
	file   string
	vipd   string // "ok" or "error"
	reason string
}

// notBuilt names the keywords vipd refuses as not supported yet, which
// alone decide the verdict; "" when there are none.
func notBuilt(err error) string {
	var errs Errors
	if !errors.As(err, &errs) {
		errs = Errors{err}
	}
	var kws []string
	for _, e := range errs {
		var ns *NotSupportedError
		if errors.As(e, &ns) && !slices.Contains(kws, ns.Keyword) {
			kws = append(kws, ns.Keyword)
		}
	}
	if len(kws) == 0 {
		return ""
	}
	sort.Strings(kws)
	return "not built: " + strings.Join(kws, ", ")
}

// TestCorpusVerdicts runs vipd -t on every corpus file and compares its
// verdict with keepalived 2.2.7's (the corpus's clean column). Each
// difference must be listed in differencesFile with its reason.
func TestCorpusVerdicts(t *testing.T) {
	files := readCorpus(t)
	if len(files) < 600 {
		t.Fatalf("only %d corpus files", len(files))
	}
	listed := readDifferences(t)
	var found []difference
	type tally struct{ files, same int }
	byTier := map[string]*tally{}
	byReason := map[string]int{}
	hardLines, hardNamed := 0, 0
	for _, f := range files {
		named, err := checkFileLines(f.path)
		for _, l := range strings.Split(f.hard, ",") {
			if n, convErr := strconv.Atoi(l); convErr == nil {
				hardLines++
				if named[n] {
					hardNamed++
				}
			}
		}
		tl := byTier[f.tier]
		if tl == nil {
			tl = &tally{}
			byTier[f.tier] = tl
		}
		tl.files++
		if (err == nil) == f.clean {
			tl.same++
			if d, ok := listed[f.name]; ok {
				t.Errorf("%s: listed as a difference (%s) but vipd now agrees with keepalived: remove it (go test -run TestCorpusVerdicts -update)", f.name, d.reason)
			}
			continue
		}
		d := difference{file: f.name, vipd: "ok"}
		if err != nil {
			d.vipd = "error"
		}
		switch old, ok := listed[f.name]; {
		case ok && old.vipd == d.vipd && old.reason != "TODO" && !strings.HasPrefix(old.reason, "not built:"):
			d.reason = old.reason
		case err != nil && notBuilt(err) != "":
			d.reason = notBuilt(err)
		default:
			d.reason = "TODO"
		}
		found = append(found, d)
		byReason[strings.SplitN(d.reason, ":", 2)[0]]++
		old, ok := listed[f.name]
		switch {
		case d.reason == "TODO":
			t.Errorf("%s: keepalived clean=%v, vipd says %v: explain it in %s", f.name, f.clean, err, differencesFile)
		case !ok:
			t.Errorf("%s: a new difference (%s): list it (go test -run TestCorpusVerdicts -update)", f.name, d.reason)
		case old != d:
			t.Errorf("%s: listed as %+v, now %+v: update the list", f.name, old, d)
		}
	}
	for _, tier := range []string{"upstream-sample", "maintainer-test"} {
		tl := byTier[tier]
		if tl == nil {
			t.Fatalf("no %s files", tier)
		}
		t.Logf("%s: %d files, same verdict as keepalived on %d (%.1f%%)", tier, tl.files, tl.same, 100*float64(tl.same)/float64(tl.files))
	}
	t.Logf("keepalived's hard lines named by an error or a warning: %d of %d", hardNamed, hardLines)
	reasons := slices.Sorted(maps.Keys(byReason))
	for _, reason := range reasons {
		t.Logf("differences: %d %s", byReason[reason], reason)
	}
	if *update {
		writeDifferences(t, found)
	}
}

func readDifferences(t *testing.T) map[string]difference {
	t.Helper()
	b, err := os.ReadFile(differencesFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]difference{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			t.Fatalf("%s: cannot read %q", differencesFile, line)
		}
		out[f[0]] = difference{file: f[0], vipd: f[1], reason: f[2]}
	}
	return out
}

func writeDifferences(t *testing.T, ds []difference) {
	var b strings.Builder
	b.WriteString("# Corpus files where vipd -t and keepalived 2.2.7 disagree (TestCorpusVerdicts).\n")
	b.WriteString("# file\tvipd's verdict\treason (\"not built: K\": keyword K is not supported yet)\n")
	for _, d := range ds {
		fmt.Fprintf(&b, "%s\t%s\t%s\n", d.file, d.vipd, d.reason)
	}
	if err := os.WriteFile(differencesFile, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
