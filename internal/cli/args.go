package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Secret values never need to appear in argv: a k=v argument whose value is
// "-" reads the value from stdin, and one whose value starts with "@" reads
// it from the named file.
const kvArgsHelp = `Each KEY=VALUE argument sets one field. VALUE may be:
  text     used as is (avoid for secrets: argv is visible to other processes)
  @FILE    the exact content of FILE, trailing newline included
  -        read from stdin, with one trailing newline removed
A lone "-" argument reads a whole JSON object from stdin instead.`

// stdinSource hands out stdin at most once per command.
type stdinSource struct {
	r    io.Reader
	used bool
}

func (s *stdinSource) readAll(what string) ([]byte, error) {
	if s.used {
		return nil, usagef("stdin can only be read once (already used before %s)", what)
	}
	s.used = true
	if s.r == nil {
		return nil, nil
	}
	b, err := io.ReadAll(s.r)
	if err != nil {
		return nil, fmt.Errorf("read stdin: %w", err)
	}
	return b, nil
}

// readLine reads one line (without its line ending), for prompts.
func (s *stdinSource) readLine(what string) (string, error) {
	if s.used {
		return "", usagef("stdin can only be read once (already used before %s)", what)
	}
	s.used = true
	if s.r == nil {
		return "", fmt.Errorf("no %s given and stdin is empty", what)
	}
	line, err := bufio.NewReader(s.r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s from stdin: %w", what, err)
	}
	line = trimNewline(line)
	if line == "" {
		return "", fmt.Errorf("no %s given and stdin is empty", what)
	}
	return line, nil
}

func trimNewline(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}

// parseKVArgs turns KEY=VALUE arguments into request data.
func parseKVArgs(args []string, in *stdinSource) (map[string]any, error) {
	data := map[string]any{}
	for _, a := range args {
		if a == "-" {
			raw, err := in.readAll("a JSON object")
			if err != nil {
				return nil, err
			}
			var obj map[string]any
			if err := json.Unmarshal(raw, &obj); err != nil {
				return nil, usagef("stdin is not a JSON object: %v", jsonErrNoInput(err))
			}
			for k, v := range obj {
				data[k] = v
			}
			continue
		}
		k, v, err := parseKVArg(a, in)
		if err != nil {
			return nil, err
		}
		data[k] = v
	}
	return data, nil
}

// parseKVArg parses one KEY=VALUE argument. Errors never include the value.
func parseKVArg(a string, in *stdinSource) (string, string, error) {
	k, v, ok := strings.Cut(a, "=")
	if !ok || k == "" {
		// Don't echo the argument: it may be a secret given by mistake.
		return "", "", usagef("arguments must be KEY=VALUE, KEY=@FILE or KEY=- (got one without a key or '=')")
	}
	switch {
	case v == "-":
		raw, err := in.readAll("field " + k)
		if err != nil {
			return "", "", err
		}
		return k, trimNewline(string(raw)), nil
	case strings.HasPrefix(v, "@"):
		raw, err := os.ReadFile(v[1:])
		if err != nil {
			return "", "", fmt.Errorf("field %s: %w", k, err)
		}
		return k, string(raw), nil
	}
	return k, v, nil
}

// parseStringMap parses repeated k=v flag values (metadata, options).
func parseStringMap(flag string, pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, usagef("-%s values must be KEY=VALUE", flag)
		}
		m[k] = v
	}
	return m, nil
}

// jsonErrNoInput strips anything of the input from a JSON error.
func jsonErrNoInput(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at offset %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "not an object"
	}
	return "invalid JSON"
}
