// knative-validate runs Knative's own defaulting and validation (the code the Serving webhook runs) over
// every Knative Service and KafkaSource in the given YAML files, so a manifest that the cluster's webhook
// would refuse fails here first, without a cluster.
//
//	knative-validate FILE|DIR|- ...          every object must be valid; exit 1 otherwise
//	knative-validate -broken DIR             every object in DIR must be rejected, and the message must
//	                                         contain the file's "# expect: ..." line; exit 1 otherwise
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	broken := flag.Bool("broken", false, "the inputs are broken fixtures that must be rejected")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: knative-validate [-broken] FILE|DIR|- ...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	files, err := expand(flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "knative-validate:", err)
		os.Exit(2)
	}
	failed := 0
	checked := 0
	for _, file := range files {
		data, err := read(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, "knative-validate:", err)
			os.Exit(2)
		}
		results, err := validateDocuments(data)
		if err != nil {
			fmt.Printf("FAIL %s: %v\n", file, err)
			failed++
			continue
		}
		if *broken {
			checked++
			if !checkBroken(file, data, results) {
				failed++
			}
			continue
		}
		for _, r := range results {
			checked++
			if r.err != nil {
				fmt.Printf("FAIL %s %s: %v\n", file, r.name, r.err)
				failed++
			} else {
				fmt.Printf("ok   %s %s\n", file, r.name)
			}
		}
	}
	if checked == 0 {
		fmt.Println("FAIL no Knative Service or KafkaSource found in", strings.Join(flag.Args(), " "))
		os.Exit(1)
	}
	fmt.Printf("knative-validate: %d passed, %d failed\n", checked-failed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

// checkBroken wants exactly one object in the fixture, rejected with a message holding the expected text.
func checkBroken(file string, data []byte, results []result) bool {
	expect := expectation(data)
	switch {
	case expect == "":
		fmt.Printf("FAIL %s: no \"# expect: <message part>\" line\n", file)
		return false
	case len(results) != 1:
		fmt.Printf("FAIL %s: a broken fixture holds exactly one object, found %d\n", file, len(results))
		return false
	case results[0].err == nil:
		fmt.Printf("FAIL %s %s: accepted, but it must be rejected with %q\n", file, results[0].name, expect)
		return false
	case !strings.Contains(results[0].err.Error(), expect):
		fmt.Printf("FAIL %s %s: rejected with %q, which does not contain %q\n", file, results[0].name, results[0].err, expect)
		return false
	}
	fmt.Printf("ok   %s %s rejected: %v\n", file, results[0].name, oneLine(results[0].err.Error()))
	return true
}

func expectation(data []byte) string {
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(scanner.Text()), "# expect:"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func read(file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(file)
}

// expand turns folders into their *.yaml/*.yml files (recursively, sorted).
func expand(args []string) ([]string, error) {
	var files []string
	for _, arg := range args {
		if arg == "-" {
			files = append(files, arg)
			continue
		}
		info, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, arg)
			continue
		}
		var found []string
		err = filepath.WalkDir(arg, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				found = append(found, path)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, nil
}
