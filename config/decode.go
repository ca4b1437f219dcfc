package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

type typeErr struct {
	line int
	msg  string
}

// decode decodes root into cfg. A value of the wrong type leaves its field
// as it was and decoding goes on (yaml.v3 does), so every such value is
// returned, with its line, and the rest of the file still counts.
func decode(root *yaml.Node, cfg *Config) []typeErr {
	if root.Kind == 0 {
		return nil
	}
	err := root.Decode(cfg)
	if err == nil {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		line, msg := yamlError(err)
		return []typeErr{{line, msg}}
	}
	var out []typeErr
	for _, e := range te.Errors {
		line, msg := yamlError(errors.New(e))
		out = append(out, typeErr{line, typeHint(root, line, msg)})
	}
	return out
}

var (
	yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	// yaml.v3: "cannot unmarshal !!str `abc` into int"; mappings and
	// lists have no value: "cannot unmarshal !!map into int".
	yamlTypeRE = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
)

func yamlError(err error) (int, string) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

// yamlKinds names YAML's tags as a user reads them.
var yamlKinds = map[string]string{
	"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean",
	"map": "a mapping", "seq": "a list", "null": "empty", "timestamp": "a date",
}

// typeHint rewrites yaml's "cannot unmarshal !!str `abc` into int" as
// `mqtt.max_queued: "abc" is a string here, but this key needs a whole
// number`: the key, what the file has and what the key takes.
func typeHint(root *yaml.Node, line int, msg string) string {
	m := yamlTypeRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	have, ok := yamlKinds[m[1]]
	if !ok {
		have = "a " + m[1]
	}
	if m[2] != "" {
		have = strconv.Quote(m[2]) + " is " + have
	} else {
		have = "this is " + have
	}
	want := m[3]
	switch {
	case want == "time.Duration":
		want = "a duration such as 10s, 500ms or 5m"
	case strings.HasPrefix(want, "int") || strings.HasPrefix(want, "uint"):
		want = "a whole number"
	case strings.HasPrefix(want, "float"):
		want = "a number"
	case want == "bool":
		want = "true or false"
	case want == "string":
		want = "a string"
	case strings.HasPrefix(want, "[]"):
		want = "a list"
	case strings.HasPrefix(want, "map["):
		want = "a mapping of keys to values"
	default:
		want = "a mapping with the keys described in the documentation"
	}
	out := fmt.Sprintf("%s here, but this key needs %s", have, want)
	if p := pathAtLine(root, "", line); p != "" {
		out = p + ": " + out
	}
	return out
}

// pathAtLine returns the path of the first key on line below n, or "".
func pathAtLine(n *yaml.Node, path string, line int) string {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p := pathAtLine(c, path, line); p != "" {
				return p
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if k.Line == line {
				return p
			}
			if q := pathAtLine(v, p, line); q != "" {
				return q
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if c.Line == line && c.Kind == yaml.ScalarNode {
				return p
			}
			if q := pathAtLine(c, p, line); q != "" {
				return q
			}
		}
	}
	return ""
}

// overridden maps the paths that flags set to the flag.
type overridden map[string]string

// at returns the flag that set path or a key above it, or "".
func (o overridden) at(path string) string {
	for p, flag := range o {
		if path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return flag
		}
	}
	return ""
}

// applyOverrides sets each override's key in the tree, creating the
// mappings on its way. A tree whose top is not a mapping is left alone:
// decoding reports it.
func applyOverrides(root *yaml.Node, list []Override) overridden {
	if len(list) == 0 {
		return nil
	}
	if root.Kind == 0 {
		*root = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	out := overridden{}
	for _, o := range list {
		n := root.Content[0]
		keys := strings.Split(o.Path, ".")
		for i, k := range keys {
			v := mapValue(n, k)
			if i == len(keys)-1 {
				if v == nil {
					n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, &yaml.Node{})
					v = n.Content[len(n.Content)-1]
				}
				*v = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: o.Value}
				out[o.Path] = o.Flag
				break
			}
			if v == nil {
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
				v = n.Content[len(n.Content)-1]
			}
			if v.Kind != yaml.MappingNode {
				break // a type problem there is reported by decoding
			}
			n = v
		}
	}
	return out
}

// mapValue returns the value of key in mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
